"""Which model pair a use case runs, and a check of it before it is used (engine/session.py opens it)."""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.engine.session import ModelFiles, ModelSession
from esmc_desktop.engine.settings import ComputeRequest
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.mllm.registry import ModelRegistry

__all__ = ["ModelFiles", "check_model", "find_model"]


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
    with ModelSession.open(model, ComputeRequest(gpu_layers=gpu, n_ctx=n_ctx)) as session:
        return session.plan.message
