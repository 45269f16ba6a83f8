"""A model session: the pair opened once per use case, each GGUF file parsed once, the user's wish kept apart
from the plan it becomes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import gguf
import pytest

from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.sort import ComputeRequest, Criterion, MethodSettings, sort_photos
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.errors import ModelFileError, SettingsError
from esmc_desktop.mllm.gpu import GpuLayers
from tests.test_pipeline import make_photos

CPU = ComputeRequest(GpuLayers(0), threads=1)  # one thread: see tests/test_pipeline.py, model_args


@pytest.fixture
def header_reads(monkeypatch) -> Counter:
    """How many times each GGUF file is parsed: every reader gguf-py builds, counted by file name."""
    reads: Counter = Counter()
    real = gguf.GGUFReader

    def counted(path, *args, **kwargs):
        reads[Path(path).name] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", counted)
    return reads


def test_a_sort_parses_each_model_file_once(tmp_path, tiny, header_reads):
    model = ModelFiles(tiny.f16.quantized, tiny.f16.mmproj)
    photos = make_photos(tmp_path / "photos", 6)
    criteria = [Criterion.parse("color of the object:2", "red,green")]
    notes: list[str] = []
    for _ in range(2):  # the first with an empty cache (the lens matrix is read from the file), then from it
        result = sort_photos(photos, criteria, model, settings=MethodSettings(n_samples=4), compute=CPU,
                             cache_dir=tmp_path / "cache", feedback=Feedback(note=notes.append))
        assert len(result.photos) == 6
        assert header_reads == {model.lm.name: 1, model.mmproj.name: 1}
        header_reads.clear()
    assert notes == ["running on the CPU"] * 2


def test_the_request_stays_as_asked_and_the_plan_says_what_runs(tiny):
    asked = ComputeRequest(GpuLayers(0), threads=1, cpu_weights="repacked")
    with ModelSession.open(ModelFiles(tiny.f16.quantized, tiny.f16.mmproj), asked) as session:
        assert asked == ComputeRequest(GpuLayers(0), threads=1, cpu_weights="repacked")
        plan = session.plan
        assert (plan.n_gpu_layers, plan.threads, plan.cpu_weights) == (0, 1, "repacked")
        with session.runtime(max_prompts=2) as rt:
            assert rt.weights == "repacked" and rt.max_prompts == 2


def test_opening_checks_the_pair_and_the_context_before_anything_loads(tiny):
    with pytest.raises(ModelFileError, match="not a language model"):
        ModelSession.open(ModelFiles(tiny.f16.mmproj, tiny.f16.mmproj), CPU)
    with pytest.raises(SettingsError, match="too small"):
        ModelSession.open(ModelFiles(tiny.f16.quantized, tiny.f16.mmproj), ComputeRequest(GpuLayers(0), n_ctx=64))
