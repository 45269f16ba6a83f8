"""Which model pair a use case runs, checked before it is used, and where it runs (GPU planning)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from esmc_desktop.app import checks
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gpu import GpuLayers, plan_gpu
from esmc_desktop.mllm.registry import ModelRegistry
from esmc_desktop.mllm.runtime import MAPPED, REPACKED
from esmc_desktop.mllm.weight_layout import choose_layout
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


def compute_settings(model: ModelFiles, settings: RunSettings, gpu: GpuLayers,
                     note: Callable[[str], None] | None = None) -> tuple[RunSettings, str]:
    """`settings` with the GPU layers planned and the CPU weight layout chosen, and the sentence saying both.

    `cpu_weights` auto on the CPU: the layout measured faster here (cached; the first time for a
    model two child processes measure it, and `note` says so first). With GPU layers auto keeps the
    mapped file, as llama.cpp's CPU layouts concern only what stays on the CPU. The sentence names
    the layout when it was measured or is not the plain mapped file.
    """
    plan = plan_gpu(gpu, model.lm)
    settings = replace(settings, gpu_layers=plan.n_gpu_layers)
    if settings.cpu_weights == REPACKED:
        return settings, f"{plan.message}. CPU weights: repacked, as set"
    if settings.cpu_weights == MAPPED or plan.n_gpu_layers:
        return replace(settings, cpu_weights=MAPPED), plan.message
    verdict = choose_layout(model.lm, settings.threads, on_measure=note)
    return replace(settings, cpu_weights=verdict.layout), f"{plan.message}. {verdict.sentence()}"
