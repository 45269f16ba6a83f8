"""The records an export folder holds, as typed values: manifest rows, journal steps, the saved result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from esmc_desktop.photos.journal import Torn

LEGACY_TEMPLATE = "llava-hf"  # results saved before the template was recorded were read in this format


@dataclass(frozen=True)
class Placement:
    """A manifest row: one file of one photo under one criterion, and where it went."""

    source: str
    sha256: str
    criterion: str
    cluster_id: int
    cluster_name: str
    confidence: float | None  # None: the head gives no probability (nearest-centroid fallback)
    destination: str


def rounded(confidence: float | None) -> float | None:
    """A confidence as the manifest holds it: 6 decimals, None when not known (NaN)."""
    if confidence is None or not math.isfinite(confidence):
        return None
    return round(float(confidence), 6)


class MoveStep(NamedTuple):
    """A move journal line: the original (`source`, content `sha256`) was copied to `copy`. None: not in the line."""

    source: str | None
    sha256: str | None
    copy: str | None


class PendingPlan(NamedTuple):
    """The re-sorts a `learn` journaled: (from, to, content hash or "") each, its criteria folders, torn lines."""

    path: Path
    moves: list[tuple[Path, Path, str]]
    criteria: list[str]
    torn: list[Torn]


@dataclass(frozen=True)
class SavedCriterion:
    text: str
    prompt: str
    layer: int
    position: int
    names: list[str]
    head: Path
    values: list[str] = field(default_factory=list)  # the names that are named values (`cluster --values`)


@dataclass(frozen=True)
class SavedResult:
    lm: Path
    mmproj: Path
    model_fingerprint: str
    lens_top_k: int
    lens_final_norm: bool
    criteria: list[SavedCriterion]
    template: str  # the chat template the heads were trained on; new photos must be read in it too
