"""Which model pair a use case runs, checked before it is used, and where it runs (GPU planning)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from esmc_desktop.app import checks
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gpu import GpuLayers, plan_gpu
from esmc_desktop.mllm.registry import ModelRegistry
from esmc_desktop.pipeline import RunSettings


@dataclass(frozen=True)
class ModelFiles:
    """The two GGUF files LLaVA runs from: the language model and its vision projector (mmproj)."""

    lm: Path
    mmproj: Path


def find_model(name_or_lm: str | Path | None = None, mmproj: Path | str | None = None) -> ModelFiles:
    """A registered pair by name (None: the default, the demo model when shipped), or two paths."""
    if mmproj is not None:
        if name_or_lm is None:
            raise EsmcError("a vision projector (mmproj) needs its language model GGUF too (--model)")
        return ModelFiles(Path(name_or_lm), Path(mmproj))
    entry = ModelRegistry().get(None if name_or_lm is None else str(name_or_lm))
    return ModelFiles(entry.lm, entry.mmproj)


def check_model(model: ModelFiles, gpu: GpuLayers = GpuLayers(), n_ctx: int | None = None) -> str:
    """Check the pair (and the context size) now; returns where it would run, in words.

    Reads both files and probes the GPU: call it off the GUI thread.
    """
    checks.model_files(model.lm, model.mmproj)
    if n_ctx is not None:
        checks.context_size(n_ctx, model.mmproj)
    return plan_gpu(gpu, model.lm).message


def compute_settings(model: ModelFiles, settings: RunSettings, gpu: GpuLayers) -> tuple[RunSettings, str]:
    """`settings` with the GPU layers planned for this model, and the sentence saying where it runs."""
    plan = plan_gpu(gpu, model.lm)
    return replace(settings, gpu_layers=plan.n_gpu_layers), plan.message
