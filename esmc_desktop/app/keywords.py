"""Suggest keywords: the words the model itself names for a criterion, for the user to check before a sort."""

from __future__ import annotations

from esmc_desktop.app.model import ModelFiles, compute_settings
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.pipeline import RunSettings
from esmc_desktop.pipeline import suggest_keywords as _ask_the_model

__all__ = ["parse_keywords", "suggest_keywords"]


def suggest_keywords(criterion: str, model: ModelFiles, *, settings: RunSettings = RunSettings(),
                     gpu: GpuLayers = GpuLayers()) -> list[str]:
    """Asks the language model in text-only mode (loads it: call it off the GUI thread)."""
    settings, _ = compute_settings(model, settings, gpu)
    return _ask_the_model(criterion, model.lm, settings)
