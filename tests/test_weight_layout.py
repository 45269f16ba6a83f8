"""The CPU weight layout: measured per machine in child processes, cached per model, said in one line."""

from __future__ import annotations

import time

import pytest

from esmc_desktop.app.model import ModelFiles
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import ComputeRequest
from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.errors import SettingsError
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.mllm.runtime import MAPPED, REPACKED, LlavaRuntime
from esmc_desktop.mllm.weight_layout import MIN_GAIN, RSS_SLACK, Trial, choose_layout, decide, default_cache_file


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory):
    """The user cache folder of this module's tests (the verdicts' default place)."""
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("cache-home")
        mp.setenv("XDG_CACHE_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def calibrated(tiny, cache_home):
    """The tiny Q4_K_M model calibrated once, into the default cache file, with the seconds it took."""
    started = time.perf_counter()
    verdict = choose_layout(tiny.f16.quantized, threads=1)
    return verdict, time.perf_counter() - started


def test_each_layout_is_tried_in_a_child_and_the_choice_follows_the_figures(calibrated, cache_home):
    verdict, seconds = calibrated
    for trial in verdict.trials:
        print(trial.describe())
    print(verdict.sentence(), f"[{seconds:.2f} s]")
    assert not verdict.cached and seconds < 30
    assert default_cache_file().is_relative_to(cache_home) and default_cache_file().is_file()
    mapped, repacked = verdict.trials
    assert (mapped.layout, repacked.layout) == (MAPPED, REPACKED)
    assert mapped.ran and mapped.seconds_per_decode > 0 and mapped.peak_rss_bytes > 2**20 and mapped.n_tokens > 30
    if not repacked.ran:  # e.g. the SIGSEGV of llama.cpp's AMX kernels: the app lives on, the repack is not used
        assert repacked.failure.startswith(("crashed (", "failed (", "took longer than"))
        assert verdict.layout == MAPPED and repacked.failure in verdict.reason
        return
    assert repacked.n_tokens == mapped.n_tokens
    faster = mapped.seconds_per_decode >= repacked.seconds_per_decode * (1 + MIN_GAIN)
    lean = repacked.peak_rss_bytes <= mapped.peak_rss_bytes * (1 + RSS_SLACK)
    assert verdict.layout == (REPACKED if faster and lean else MAPPED)
    ratio = mapped.seconds_per_decode / repacked.seconds_per_decode
    assert f"repacked ran at {ratio:.2f}x the mapped file's speed" in verdict.reason and "peak RSS" in verdict.reason


def test_the_verdict_is_cached_so_a_second_call_runs_no_child(calibrated, tiny):
    first, first_seconds = calibrated
    started = time.perf_counter()
    again = choose_layout(tiny.f16.quantized, threads=1)
    seconds = time.perf_counter() - started
    assert again.cached and "as measured on 20" in again.sentence()
    assert (again.layout, again.reason, again.trials) == (first.layout, first.reason, first.trials)
    assert seconds < min(0.5, first_seconds / 2)


def test_a_damaged_cache_is_moved_aside_and_rebuilt(tiny, tmp_path, caplog):
    cache = tmp_path / "cpu-weights.json"
    cache.write_text('{"schema": 1, "verdicts": {"x": {"layout": "fast"')
    verdict = choose_layout(tiny.f16.quantized, threads=1, cache_file=cache)
    aside = [p.name for p in tmp_path.iterdir() if p.name.startswith("cpu-weights.json.damaged-")]
    assert len(aside) == 1 and "damaged cache of CPU weight layouts" in caplog.text
    assert not verdict.cached and choose_layout(tiny.f16.quantized, threads=1, cache_file=cache).cached


def test_a_model_neither_layout_loads_is_explained_and_measured_again_next_time(tiny, tmp_path):
    cache = tmp_path / "cpu-weights.json"
    verdict = choose_layout(tiny.f16.mmproj, threads=1, cache_file=cache)  # a projector, not a language model
    assert verdict.layout == MAPPED and verdict.reason.startswith("neither layout ran in its trial")
    assert all(t.failure.startswith("failed (") and "language model" in t.failure for t in verdict.trials)
    assert not cache.exists()


@pytest.mark.parametrize("repacked, layout, why", [
    (Trial(REPACKED, failure="crashed (SIGSEGV)"), MAPPED, "repacked crashed (SIGSEGV) in its trial"),
    (Trial(REPACKED, 0.5, 1000 * 2**20, 1.0, 60), REPACKED, "2.00x the mapped file's speed (1.10x needed) at no more"),
    (Trial(REPACKED, 0.95, 1000 * 2**20, 1.0, 60), MAPPED, "1.05x the mapped file's speed (1.10x needed)"),
    (Trial(REPACKED, 0.5, 2000 * 2**20, 1.0, 60), MAPPED, "but holds more memory (peak RSS 2000 vs 1000 MiB)"),
])
def test_repacked_is_chosen_only_when_clearly_faster_at_no_more_memory(repacked, layout, why):
    mapped = Trial(MAPPED, 1.0, 1000 * 2**20, 0.5, 60)
    chosen, reason = decide(mapped, repacked)
    assert chosen == layout and why in reason


def test_auto_turns_into_the_measured_layout_and_the_sentence_says_where_and_how(calibrated, tiny):
    verdict, _ = calibrated
    model = ModelFiles(tiny.f16.quantized, tiny.f16.mmproj)
    heard: list[str] = []
    with ModelSession.open(model, ComputeRequest(GpuLayers(0), cpu_weights="auto"), note=heard.append) as session:
        plan = session.plan
        assert plan.cpu_weights == verdict.layout and heard == [plan.message]  # cached: only where it runs
        assert plan.message == f"running on the CPU. {choose_layout(model.lm).sentence()}"
        with session.runtime() as rt:
            assert rt.weights == verdict.layout
    forced = ModelSession.open(model, ComputeRequest(GpuLayers(0), cpu_weights=REPACKED)).plan
    assert forced.cpu_weights == REPACKED and forced.message == "running on the CPU. CPU weights: repacked, as set"
    plain = ModelSession.open(model, ComputeRequest(GpuLayers(0), cpu_weights=MAPPED)).plan
    assert plain.cpu_weights == MAPPED and plain.message == "running on the CPU"


def test_the_runtime_takes_a_layout_not_auto(tiny):
    with pytest.raises(SettingsError, match="give mapped or repacked"):
        LlavaRuntime(tiny.f16.quantized, weights="auto")


def test_doctor_reports_the_verdicts_of_this_machine(calibrated, tiny, tmp_path, monkeypatch, capsys):
    verdict, _ = calibrated
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["doctor"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert f"CPU weights for {tiny.f16.quantized.resolve()}: {verdict.layout}, {verdict.reason} (measured 20" \
        in "\n".join(lines)
