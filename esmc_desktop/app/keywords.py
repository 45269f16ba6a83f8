"""Suggest keywords: the words the model itself names for a criterion, for the user to check before a sort."""

from __future__ import annotations

from esmc_desktop.app.model import ModelFiles
from esmc_desktop.engine.cluster import suggest_keywords as _ask_the_model
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import ComputeRequest
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE

__all__ = ["parse_keywords", "suggest_keywords"]


def suggest_keywords(criterion: str, model: ModelFiles, *, template: str = DEFAULT_TEMPLATE,
                     compute: ComputeRequest = ComputeRequest()) -> list[str]:
    """Asks the language model in text-only mode (loads it: call it off the GUI thread)."""
    with ModelSession.open(model, compute) as session:
        return _ask_the_model(criterion, session, template)
