"""The one result of a sort: what the model read and what the user made of it, per criterion.

The window shows it, the user renames clusters and moves photos in it, and export writes
folders, manifests and saved heads from it. Each criterion holds its reading (prompt, target,
vectors: engine.types.Reading, never edited) and one clustering, the user's: it starts as the
engine's and is then edited in place, so there is no second copy to drift from. Export takes
rows that name their photo (`SortResult.rows`), so nothing is matched by position between
parallel objects. The names here are those the saved result uses on disk (text, prompt, layer,
position, names); saved_result.py writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from esmc_desktop.errors import EsmcError
from esmc_desktop.method.head import HeadWeights
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.photos.export import ExportRow, sources
from esmc_desktop.photos.scan import Photo, Skipped
from esmc_desktop.photos.xmp import keywords_for
from esmc_desktop.engine.types import ClusterResult, CriterionResult, Reading


@dataclass
class CriterionClusters:
    """One criterion: what the model read, and its clusters (names, a cluster and confidence per photo, the head)."""

    reading: Reading  # prompt, keywords, target, vectors, lens readings: never edited
    names: list[str]
    labels: list[int]
    confidences: list[float]
    weights: HeadWeights  # the head now: the sort's, cut when a cluster is removed, or a learnt one
    explanations: list[list[str]] = field(default_factory=list)
    note: str = ""
    placed: set[int] = field(default_factory=set)  # photos the user moved by hand: learning never moves them
    values: list[str] = field(default_factory=list)  # the clusters that are values (named, made or added), by name
    # How the sort made the clusters, for the window's explanations: not changed by edits.
    k_scores: dict[int, float] = field(default_factory=dict)  # silhouette per K tried, when K was chosen
    used_head: bool = True  # False: the clustering head fell back to nearest centroids
    sorted_into: int = 0  # how many clusters the sort made (values, `other` and discovered ones)
    _logits: tuple = field(default=(None, None), repr=False, compare=False)  # ((head, vectors), their logits)

    @classmethod
    def of(cls, computed: CriterionResult) -> "CriterionClusters":
        """The engine's clustering as the user's editable one, beside the reading it was made from."""
        made = computed.clustering
        return cls(computed.reading, list(made.names), [int(x) for x in made.labels],
                   [float(x) for x in made.confidences], made.weights, [list(e) for e in made.explanations],
                   made.note, values=list(computed.reading.criterion.values or ()), k_scores=dict(made.k_scores),
                   used_head=made.used_head, sorted_into=len(made.names))

    def is_value(self, cluster: int) -> bool:
        """Whether a cluster is one of the criterion's values (not `other`, not a cluster the sort discovered)."""
        return 0 <= cluster < len(self.names) and self.names[cluster] in self.values

    @property
    def text(self) -> str:
        return self.reading.criterion.text

    @property
    def prompt(self) -> str:
        return self.reading.prompt

    @property
    def keywords(self) -> list[str]:
        return self.reading.keywords

    @property
    def layer(self) -> int:
        return self.reading.localization.layer

    @property
    def position(self) -> int:
        return self.reading.localization.position

    @property
    def where_read(self) -> str:
        """How the (layer, position) was found, in words."""
        return self.reading.localization.message

    @property
    def localization_rule(self) -> str:
        """Which rule chose the (layer, position): the default, the paper's, or the user's."""
        return self.reading.localization.rule

    def logits(self) -> np.ndarray:
        """The head's logits for every photo, (n, K): computed once per head, as learning replaces the head.

        The window's review reads them after every edit; at 100,000 photos they take seconds to compute.
        """
        made_from, logits = self._logits
        now = (self.weights, self.reading.vectors)
        if made_from is None or any(a is not b for a, b in zip(made_from, now)):
            logits = self.weights.logits(self.reading.vectors)
            self._logits = (now, logits)
        return logits

    def members(self, cluster: int) -> list[int]:
        """Indices of the photos in a cluster, in photo order."""
        return np.flatnonzero(np.asarray(self.labels) == cluster).tolist()


@dataclass(frozen=True)
class LensReading:
    """Why a photo sits where it does: its most probable lens tokens where the criterion is read."""

    prompt: str
    layer: int
    position: int
    token: str  # the prompt token at `position`
    tokens: list[tuple[str, float]]  # (token, probability), most probable first


class SortResult:
    """The photos of a sort and, per criterion, clusters that can be renamed and photos that can be moved."""

    def __init__(self, computed: ClusterResult, lm: Path, mmproj: Path) -> None:
        self.root: Path = computed.root
        self.photos: list[Photo] = list(computed.photos)
        self.skipped: list[Skipped] = list(computed.skipped)
        self.criteria = [CriterionClusters.of(c) for c in computed.criteria]
        self.lm, self.mmproj = Path(lm), Path(mmproj)
        self.model_fingerprint: str = computed.model_fingerprint
        self.lens: LensParams = computed.lens
        self.template: str = computed.template  # the chat format the vectors were read in
        self.images_encoded: int = computed.images_encoded
        self.edited = False  # renames and moves that no export has written yet

    def prepare_review(self) -> None:
        """Compute each head's logits now (on the worker thread that sorted), not when the window first shows
        which photos are in doubt."""
        for crit in self.criteria:
            crit.logits()

    def criterion(self, index: int) -> CriterionClusters:
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
        if crit.names[cluster] != name:
            if crit.names[cluster] in crit.values:  # a value renamed stays a value
                crit.values[crit.values.index(crit.names[cluster])] = name
            crit.names[cluster] = name
            self.edited = True

    def move(self, criterion: int, photo: int, cluster: int) -> None:
        """Put a photo into another cluster by hand; its confidence becomes 1 (the user said so)."""
        crit = self.criterion(criterion)
        if not 0 <= cluster < len(crit.names):
            raise EsmcError(f"'{crit.text}' has no cluster {cluster + 1}")
        crit.labels[photo] = cluster
        crit.confidences[photo] = 1.0
        crit.placed.add(photo)
        self.edited = True

    def add_cluster(self, criterion: int, name: str) -> int:
        """A new, empty cluster (photos are then moved into it by hand); returns its id.

        Among named values it is a value too: the user named it, as a folder added among the values is one.
        """
        crit = self.criterion(criterion)
        crit.names.append("")
        crit.explanations.append([])
        try:
            self.rename(criterion, len(crit.names) - 1, name)
        except EsmcError:
            crit.names.pop()
            crit.explanations.pop()
            raise
        if crit.values:
            crit.values.append(crit.names[-1])
        return len(crit.names) - 1

    def lens_reading(self, criterion: int, photo: int) -> LensReading:
        """What the model read in a photo for a criterion: the reason shown when the photo is selected."""
        crit = self.criterion(criterion)
        tokens = crit.reading.lens_tokens[photo] if photo < len(crit.reading.lens_tokens) else []
        return LensReading(crit.prompt, crit.layer, crit.position, crit.reading.target_token, list(tokens))

    def rows(self) -> list[ExportRow]:
        """What export writes: per criterion, each photo with its cluster, name and confidence as the user left them."""
        photos = sources(self.photos)
        return [ExportRow(photos[i], c.text, label, c.names[label], c.confidences[i])
                for c in self.criteria for i, label in enumerate(c.labels)]

    def keywords(self, photo: int) -> dict[str, list[str]]:
        """The keywords a tag export writes for a photo now, per XMP field (see photos/xmp.py)."""
        return keywords_for([(c.text, c.names[c.labels[photo]]) for c in self.criteria])
