"""A clustering result the user can correct: renamed clusters and photos moved by hand.

The GUI edits this object and never the pipeline's ClusterResult, so what the window shows
and what `export` writes come from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from esmc_desktop.errors import EsmcError
from esmc_desktop.photos.export import sources
from esmc_desktop.pipeline import ClusterResult


@dataclass
class EditableCriterion:
    """One criterion's clusters: a name per cluster and a cluster per photo."""

    text: str
    names: list[str]
    labels: list[int]
    confidences: list[float]
    explanations: list[list[str]] = field(default_factory=list)
    note: str = ""

    def members(self, cluster: int) -> list[int]:
        """Indices of the photos in a cluster, in photo order."""
        return [i for i, label in enumerate(self.labels) if label == cluster]


@dataclass(frozen=True)
class LensReading:
    """Why a photo sits where it does: its most probable lens tokens where the criterion is read."""

    prompt: str
    layer: int
    position: int
    token: str  # the prompt token at `position`
    tokens: list[tuple[str, float]]  # (token, probability), most probable first


class EditableResult:
    """The photos and, per criterion, clusters that can be renamed and photos that can be moved."""

    def __init__(self, result: ClusterResult) -> None:
        self.source = result  # the heads, targets and model the result was computed with
        self.root = result.root
        self.photos = list(result.photos)
        self.criteria = [EditableCriterion(c.criterion.text, list(c.names), [int(x) for x in c.labels],
                                           [float(x) for x in c.confidences], [list(e) for e in c.explanations], c.note)
                         for c in result.criteria]

    def criterion(self, index: int) -> EditableCriterion:
        if not 0 <= index < len(self.criteria):
            raise EsmcError(f"there is no criterion {index + 1}; the result has {len(self.criteria)}")
        return self.criteria[index]

    def rename(self, criterion: int, cluster: int, name: str) -> None:
        """Rename a cluster; names stay unique within a criterion, because each becomes a folder."""
        crit = self.criterion(criterion)
        name = name.strip()
        if not name:
            raise EsmcError("a cluster needs a name")
        if any(n.casefold() == name.casefold() for i, n in enumerate(crit.names) if i != cluster):
            raise EsmcError(f"'{name}' is already a cluster of '{crit.text}'")
        crit.names[cluster] = name

    def move(self, criterion: int, photo: int, cluster: int) -> None:
        """Put a photo into another cluster by hand; its confidence becomes 1 (the user said so)."""
        crit = self.criterion(criterion)
        if not 0 <= cluster < len(crit.names):
            raise EsmcError(f"'{crit.text}' has no cluster {cluster + 1}")
        crit.labels[photo] = cluster
        crit.confidences[photo] = 1.0

    def lens_reading(self, criterion: int, photo: int) -> LensReading:
        """What the model read in a photo for a criterion: the reason shown when the photo is selected."""
        self.criterion(criterion)
        source = self.source.criteria[criterion]
        tokens = source.lens_tokens[photo] if photo < len(source.lens_tokens) else []
        return LensReading(source.prompt, source.localization.layer, source.localization.position,
                           source.target_token, list(tokens))

    def assignments(self) -> dict[str, list[tuple[int, str, float]]]:
        """Per criterion, (cluster, name, confidence) per photo: what `photos.export.export` takes."""
        return {c.text: [(label, c.names[label], conf) for label, conf in zip(c.labels, c.confidences)]
                for c in self.criteria}

    def photo_paths(self) -> list[tuple[Path, str]]:
        return sources(self.photos)
