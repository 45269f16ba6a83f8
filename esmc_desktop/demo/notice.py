"""Which model is in use, in words, and the one-line warning when the demo model meets real photos.

The demo model was trained only on the generated world of coloured shapes: on a
user's photos it answers anyway (species of a flower come out as colours), so
every face says so before such a sort, with the command that gets the real model.
"""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.demo.world import is_generated_world
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES, DEMO_NAME, ModelRegistry

DEMO_NOTICE = ("the demo model only knows the synthetic world of coloured shapes it was trained on and cannot "
               "see real photos; get the real model (LLaVA-1.5-7b, 4.7 GB) with {remedy}")
CLI_REMEDY = "`esmc-desktop models pull`"


def is_demo_model(lm: Path | str) -> bool:
    return Path(lm).resolve() == (DEMO_DIR / DEMO_FILES[0]).resolve()


def model_label(lm: Path | str, registry: ModelRegistry | None = None) -> str:
    """The registered name of the pair whose LM is `lm`, else the file's name."""
    if is_demo_model(lm):
        return DEMO_NAME
    lm = Path(lm).resolve()
    try:
        for entry in (registry or ModelRegistry()).entries():
            if entry.lm.resolve() == lm:
                return entry.name
    except EsmcError:  # a damaged model list must not stop a sort; the file name still says what runs
        pass
    return lm.name


def demo_notice(lm: Path | str, photos: Path | str, remedy: str = CLI_REMEDY) -> str | None:
    """DEMO_NOTICE (with how to get the real model: `remedy`) when the demo model is about to sort a folder
    its generator did not write; None otherwise."""
    if is_demo_model(lm) and not is_generated_world(photos):
        return DEMO_NOTICE.format(remedy=remedy)
    return None
