"""The engine's words: what the user asks for (Criterion), how far a job is (Progress, progress.py), what it found."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse

from esmc_desktop.errors import EsmcError
from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.method.localization import Localization
from esmc_desktop.method.values import OTHER
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE
from esmc_desktop.progress import Progress
from esmc_desktop.photos.export import ExportRow
from esmc_desktop.photos.scan import Photo, Skipped


@dataclass(frozen=True)
class Criterion:
    """What the user typed: a phrase, optionally the number of clusters, keywords and the place to read."""

    text: str
    k: int | None = None
    keywords: tuple[str, ...] | None = None
    target: tuple[int, str] | None = None  # (block, prompt token) the user chose: read there, not localized
    values: tuple[str, ...] | None = None  # named values: each photo goes to one of them or to `other`
    discover: bool = False  # with values: the `other` photos are clustered and their clusters named

    @staticmethod
    def parse_values(text: str) -> tuple[tuple[str, ...], bool]:
        """'beach,mountains,city' -> the values, not discovering; a trailing '+' discovers the rest.

        Values are read as keywords are (phrases and digits kept); 'other' is always there, so naming it
        adds nothing.
        """
        discover = text.rstrip().endswith("+")
        values = [v for v in parse_keywords(text.rstrip().rstrip("+")) if v.casefold() != OTHER]
        if not values:
            raise EsmcError(f"no value in {text!r}: name them separated by commas, e.g. 'beach,mountains,city' "
                            f"(a last '+' also discovers the rest)")
        return tuple(values), discover

    @staticmethod
    def parse_target(spec: str) -> tuple[int, str]:
        """'26:car' -> (26, 'car'); the token is a piece of the prompt as text, or '#N' for the N-th suffix token."""
        layer, sep, token = spec.partition(":")
        if not sep or not layer.strip().isdigit() or not token.strip():
            raise EsmcError(f"a place to read is LAYER:TOKEN, e.g. 26:car (block 26, the prompt's token 'car'), "
                            f"not {spec!r}")
        return int(layer), token.strip()

    @classmethod
    def parse(cls, spec: str, keywords: str | None = None) -> "Criterion":
        """'color of the car' or 'color of the car:4'."""
        text, k = spec, None
        match = re.fullmatch(r"(.+?):\s*(\d+|auto)\s*", spec)
        if match:
            text, k = match.group(1), None if match.group(2) == "auto" else int(match.group(2))
        text = text.strip()
        if not text:
            raise EsmcError(f"empty criterion in {spec!r}")
        if k is not None and k < 2:
            raise EsmcError(f"{spec!r}: the number of clusters must be at least 2")
        return cls(text, k, tuple(parse_keywords(keywords)) if keywords else None)

    @property
    def prompt(self) -> str:
        """'color of the car' -> 'The color of the car is'; a question or a colon ending is kept as typed."""
        text = self.text.strip()
        if text.endswith(("?", ":")) or re.search(r"\bis$", text):
            return text
        text = re.sub(r"^(the|a|an)\s+", "", text, flags=re.IGNORECASE)
        return f"The {text} is"


@dataclass(frozen=True)
class Reading:
    """What the model read for one criterion: the prompt, the keywords, the place it was read at and every
    photo's lens vector there. Facts about the photos and the model: no edit changes them, so the window and
    export share them with the engine instead of copying them."""

    criterion: Criterion
    prompt: str
    keywords: list[str]
    localization: Localization
    vectors: sparse.csr_matrix
    target_token: str = ""  # the prompt token read at localization.position
    lens_tokens: list[list[tuple[str, float]]] = field(default_factory=list)  # per photo, its top lens tokens there
    keyword_notes: list[str] = field(default_factory=list)  # keywords the lens cannot tell apart, and what was done
    prompt_tokens: list[str] = field(default_factory=list)  # the text after the image, token by token (the map's columns)


@dataclass(frozen=True)
class Clustering:
    """How the engine sorted a reading: a cluster and a confidence per photo, the clusters' names and words, the
    head. The application layer starts its editable clustering from it (app/result.py) and keeps no copy."""

    labels: np.ndarray
    confidences: np.ndarray
    names: list[str]
    explanations: list[list[str]]
    weights: HeadWeights
    used_head: bool = True
    k_scores: dict[int, float] = field(default_factory=dict)
    note: str = ""  # what the user should know about this clustering, in words (e.g. fewer readings than K)


@dataclass(frozen=True)
class CriterionResult:
    """One criterion of a sort: what was read and how it was clustered, kept apart because only the
    clustering is ever edited."""

    reading: Reading
    clustering: Clustering


@dataclass
class StageTimes:
    """Where a run's time went, in seconds (decode is summed over the worker threads, so it overlaps)."""

    scan: float = 0.0  # listing and hashing the folder (overlaps model loading)
    load: float = 0.0  # model files, lens matrix, runtime
    decode: float = 0.0  # photos decoded and reduced, on the prefetch workers
    decode_wait: float = 0.0  # the model waiting for a photo that was not decoded yet
    model: float = 0.0  # LlavaRuntime.run
    lens: float = 0.0  # logit lens projections
    photos_decoded: int = 0


@dataclass
class ClusterResult:
    root: Path
    photos: list[Photo]
    skipped: list[Skipped]
    criteria: list[CriterionResult]
    model_fingerprint: str
    lens: LensParams
    images_encoded: int
    times: StageTimes = field(default_factory=StageTimes)
    template: str = DEFAULT_TEMPLATE


@dataclass
class Assignment:
    """New photos sorted into a saved result: one export row per photo and criterion, each naming its photo."""

    photos: list[Photo]
    skipped: list[Skipped]
    rows: list[ExportRow]
    images_encoded: int


def report_progress(progress: Callable[[Progress], None] | None, stage: str, done: int, total: int,
                    started: float, computed: int) -> None:
    """Every photo counts as done, skipped ones too (a bar reaches its end); the speed and the time left are
    those of the `computed` photos alone, the ones the model ran: cached and unreadable ones take no time."""
    if progress is None:
        return
    elapsed = max(time.perf_counter() - started, 1e-9)
    rate = computed / elapsed if computed else 0.0
    left = (total - done) / rate if rate > 0 else None
    progress(Progress(stage, done, total, rate, left))
