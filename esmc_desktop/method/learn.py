"""Learning from the user's corrections: Algorithm 2 again, seeded by the clusters the user corrected, on log features.

A correction is a photo the user put into a cluster by hand. Retraining a criterion's head:

- Clusters: the current ones with every correction applied; a correction into a cluster id past the
  last one makes a new cluster (K grows); a cluster left with no photo is removed (`kept` maps the new
  ids to the old ones).
- The photos are read as log features of their lens vectors (`head.log_features`, floor `LOG_FLOOR`),
  not as the probabilities the first clustering reads (ESMC's target embedding, kept there). Why: where
  the first clustering is mediocre, the criterion is carried by tokens at 1e-3 to 1e-2 beside a
  dominant 0.5 (a prior, a neighbouring word), which a distance between probability vectors does not
  see; the photos a user corrects are such photos.
- Pseudo-labels: constrained k-means (Basu, Banerjee & Mooney 2002) from the corrected clusters' means,
  every corrected photo fixed in the user's cluster, only untouched photos reassigned. The head is
  Algorithm 2's MLP on the log features, trained afresh (same recipe and seed) on each cluster's alpha
  core plus the corrections (weight `weight`), calibrated as the first head is; where it would leave a
  cluster with none of its untouched photos, the constrained k-means clusters are kept, as
  nearest-centroid weights without confidence (as Algorithm 2's head does).
- A corrected photo keeps the user's cluster, always. An untouched photo moves to the cluster the head
  proposes only with evidence: its look-alikes (LOOK_ALIKES nearest photos in log features) go there
  too (`keep_unless_look_alikes_move`: what a correction teaches moves the photos read like it as a
  group; a photo moved alone shares a quiet token with a corrected one by chance), and, where k-means on
  the log features without the corrections puts no more than 1/K of the corrected photos where the user
  did (`log_scale_predicts`), the retrained head is surer of the new cluster than the current head was
  of the old one (`keep_what_was_sure`: nothing then says the log features see better than the
  probabilities the current clustering read, and on near-right readings their log features mix values
  the probabilities keep apart). Label-free: it reads the vectors, the corrections, the current
  clusters and their confidences.
- `resort="all"`: the user's choice where they know the clustering was mostly wrong (they have looked
  at the photos; the vectors cannot tell: on the weakest readings the first head is as sure of its wrong
  clusters as of its right ones). The sureness check is skipped, so an untouched photo moves wherever
  the retrained head and its look-alikes agree: the weakest readings gain what the default does not,
  at ~0.05 NMI on readings that were right.

Figures (readings already right stay within 0.01; gains up to +0.42 NMI where the log scale reads the
corrections; the weakest readings gain only with resort="all") and the variants measured worse:
docs/learning.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
from scipy import sparse

from esmc_desktop.method.head import (
    HeadWeights,
    calibrate,
    centroid_weights,
    log_features,
    train_mlp,
)
from esmc_desktop.method.validation import MethodInputError, check_vectors

# How many pseudo-labels one correction weighs. Above one, because a correction is the only
# label known to be right; not much above, because corrected photos are often the least certain
# ones, and a head that must fit them at any price memorises them through their noise tokens and
# drags look-alikes with them (measured with benchmarks/learn_from_corrections.py: weight 5 did
# no better than 2 where the lens vectors separate the values, and worse where they do not).
CORRECTION_WEIGHT = 2.0
# Probability at which a token's log feature is 0 (as for a token outside the top-k): low, so that
# the log scale still orders the tail of the top-k instead of flattening it to 0. For LLaVA-1.5-7b
# it lies below 1/|V| = 3.1e-5 (32,000 tokens), the probability of a token the model has no
# preference for: every token the lens keeps above chance counts, none is clipped to "absent".
# A fixed probability, not 1/|V|, because it was measured: on the demo model's weak readings
# (benchmarks/learn_from_corrections.py) 1e-5 gained more than 1e-4 and 1e-3 on 8 of 9 readings.
# Not yet measured on real LLaVA features.
LOG_FLOOR = 1e-5
# Constrained k-means stops when no untouched photo changes cluster, or after this many rounds.
MAX_ROUNDS = 100
# How many nearest photos (log features) decide whether an untouched photo's move is backed by its
# look-alikes: enough that the few corrections near a photo do not outvote its own group, few enough
# that a small group the corrections moved still moves together. Measured on the demo model's readings
# (benchmarks/learn_from_corrections.py): 5 and 7 left the already-right shape reading at -0.015 with
# 5 corrections per cluster, 10 at -0.009, 15 the same while keeping less of the weakest readings'
# gains (+0.09 instead of +0.11 on colour 2:' is'). Not yet measured on real LLaVA features.
LOOK_ALIKES = 10
# Distances held at once while look-alikes are searched: a block of rows times the photos (32 MB), whatever
# the collection's size; at most _BLOCK rows a block.
_CELLS = 4_000_000
_BLOCK = 512
# Which untouched photos may move: "doubtful" (the default) keeps what was right, moving a photo only
# with the evidence above; "all" trusts the corrections over the current clusters (the user says most
# photos were wrong): every photo the retrained head and its look-alikes agree on moves.
RESORT_CHOICES = ("doubtful", "all")


def check_resort(resort: str) -> None:
    """Refuse an unknown re-sort choice (callers check it before anything is read or moved)."""
    if resort not in RESORT_CHOICES:
        raise MethodInputError(f"resort must be one of {', '.join(RESORT_CHOICES)}, not {resort!r}")


@dataclass(frozen=True)
class Learnt:
    """A criterion's clustering after learning from corrections, in the new cluster ids."""

    weights: HeadWeights
    labels: np.ndarray  # every photo; corrected photos carry the user's cluster
    confidences: np.ndarray  # the head's probability of each photo's cluster; NaN where not known; 1.0 if corrected
    kept: list[int]  # new cluster id -> cluster id before learning (or a new cluster's id)
    changed: np.ndarray  # untouched photos whose cluster changed (indices)


def learn_from_corrections(X, labels, corrections: Mapping[int, int], *, alpha: float = 0.3,
                           weight: float = CORRECTION_WEIGHT, hidden: int = 512,
                           epochs: int = 100, learning_rate: float | None = None, seed: int = 0,
                           confidences=None, resort: str = "doubtful") -> Learnt:
    """Retrain on the cached vectors X with the user's `corrections` (photo index -> cluster id).

    `labels` are the current clusters. A correction may name cluster K, K+1...: new clusters.
    `confidences`: the current head's probability of each photo's cluster (NaN where not known; None:
    none known), what the clustering the user corrected said of each photo (see `keep_what_was_sure`).
    `resort`: "doubtful" keeps the photos the current clustering had right (see the module); "all" re-sorts
    every untouched photo the retrained head and its look-alikes agree on, for a clustering the user
    found mostly wrong.
    """
    check_resort(resort)
    X = check_vectors(X)
    labels = np.asarray(labels, dtype=np.int64)
    n = X.shape[0]
    if labels.shape != (n,):
        raise MethodInputError(f"{n} photos but {len(labels)} labels")
    if not corrections:
        raise MethodInputError("no photo was moved by hand: there is nothing to learn from")
    fixed = np.array(sorted(corrections), dtype=np.int64)
    targets = np.array([corrections[i] for i in fixed], dtype=np.int64)
    if fixed.min() < 0 or fixed.max() >= n or targets.min() < 0:
        raise MethodInputError("a correction names a photo or a cluster that does not exist")
    if not 0.0 < alpha <= 1.0 or weight <= 0:
        raise MethodInputError("alpha must be in (0, 1] and weight positive")

    current = labels.copy()
    current[fixed] = targets
    kept = sorted(set(current.tolist()))
    if len(kept) < 2:
        raise MethodInputError("the corrections leave a single cluster: a clustering needs at least two")
    new_id = np.full(max(kept) + 1, -1, np.int64)
    new_id[kept] = np.arange(len(kept))
    current = new_id[current]
    k = len(kept)
    untouched = np.ones(n, bool)
    untouched[fixed] = False
    sample_weight = np.where(untouched, 1.0, weight)

    Z = log_features(X, LOG_FLOOR)
    seeded, distances, centres = constrained_kmeans(Z, current, untouched, sample_weight)
    rows, row_targets = _pseudo_labels(seeded, distances, untouched, fixed, alpha)
    weights = train_mlp(Z, rows, row_targets, k, sample_weight=sample_weight[rows].astype(np.float32),
                        hidden=hidden, epochs=epochs, learning_rate=learning_rate, seed=seed)
    weights = replace(weights, log_floor=LOG_FLOOR)  # it reads X through log_features from now on
    held_out = np.setdiff1d(np.flatnonzero(untouched), rows)
    weights = calibrate(weights, X[held_out], seeded[held_out])
    proba = weights.predict_proba(X)
    if set(seeded[untouched].tolist()) - set(proba[untouched].argmax(axis=1).tolist()):
        # The MLP could not tell a cluster apart (it would get none of its untouched photos): as Algorithm 2's
        # head does then, keep the (constrained) k-means clusters, as nearest-centroid weights without confidence.
        weights = replace(centroid_weights(centres), log_floor=LOG_FLOOR)
        proba = weights.predict_proba(X)
    before = new_id[labels]  # -1 where the photo's old cluster was removed (it had no photo left)
    proposed = np.where(untouched, proba.argmax(axis=1), current)
    if (resort == "doubtful" and confidences is not None and weights.has_confidence
            and not log_scale_predicts(Z, before, current, fixed)):
        proposed = keep_what_was_sure(proba, before, proposed, untouched, confidences)
    new_labels = keep_unless_look_alikes_move(Z, before, proposed, untouched)
    conf = proba[np.arange(n), new_labels] if weights.has_confidence else np.full(n, np.nan)
    conf[fixed] = 1.0
    changed = np.flatnonzero(untouched & (new_labels != before))
    return Learnt(weights, new_labels, conf, kept, changed)


def log_scale_predicts(Z: sparse.csr_matrix, before: np.ndarray, current: np.ndarray, fixed: np.ndarray) -> bool:
    """Whether the log features alone put more of the corrected photos where the user put them than chance does.

    The control: k-means on the log features `Z` started from the clusters before learning (`before`;
    where a cluster was removed, `current`), every photo free and no correction in it. The corrected
    photos are the only labels there are; if more than 1/K of them land in the user's cluster, the
    log scale reads what the user corrects, and the head that learns on it may re-sort freely.
    """
    start = np.where(before >= 0, before, current)
    alone = constrained_kmeans(Z, start, np.ones(len(start), bool), np.ones(len(start)))[0]
    return float(np.mean(alone[fixed] == current[fixed])) > 1.0 / (int(current.max()) + 1)


def keep_what_was_sure(proba: np.ndarray, before: np.ndarray, proposed: np.ndarray, untouched: np.ndarray,
                       confidences) -> np.ndarray:
    """`proposed`, except that an untouched photo keeps its cluster unless the new head is surer of the new one.

    `proba`: the retrained head's probabilities; `confidences`: the current head's probability of each
    photo's cluster (NaN where not known: no evidence, the photo may move). Both are calibrated the same
    way (temperature on photos outside the head's training set), so they compare as "how sure".
    """
    n = len(proposed)
    sure = np.nan_to_num(np.asarray(confidences, dtype=float), nan=0.0)
    surer = proba[np.arange(n), proposed] > sure
    return np.where(untouched & (before >= 0) & ~surer, before, proposed)


def keep_unless_look_alikes_move(Z: sparse.csr_matrix, before: np.ndarray, proposed: np.ndarray,
                                 untouched: np.ndarray, look_alikes: int = LOOK_ALIKES) -> np.ndarray:
    """The clusters after learning: `proposed` where a photo's look-alikes back its move, else `before`.

    `before`: each photo's cluster before learning (-1: its cluster was removed, so it must move);
    `proposed`: the retrained head's cluster for untouched photos, the user's for corrected ones.
    An untouched photo the head would move from cluster a to b moves only when, among its
    `look_alikes` nearest photos in the log features Z (Euclidean, as the constrained k-means),
    more are in b than in a, each counted where it is going (a corrected photo where the user put
    it). Distances are computed in blocks of rows, so memory stays at a block times the photos.
    """
    labels = np.where(untouched & (before >= 0), before, proposed)
    movers = np.flatnonzero(untouched & (proposed != before) & (before >= 0))
    m = min(look_alikes, Z.shape[0] - 1)
    if len(movers) == 0 or m < 1:
        return labels
    norms = np.asarray(Z.multiply(Z).sum(axis=1)).ravel()
    columns = Z.T.tocsr()
    block = int(np.clip(_CELLS // Z.shape[0], 1, _BLOCK))
    for start in range(0, len(movers), block):
        rows = movers[start:start + block]
        distances = norms[rows, None] - 2 * (Z[rows] @ columns).toarray() + norms[None]
        distances[np.arange(len(rows)), rows] = np.inf  # a photo is not its own look-alike
        nearest = _nearest(distances, m)
        going = proposed[nearest]
        backed = (going == proposed[rows, None]).sum(axis=1) > (going == before[rows, None]).sum(axis=1)
        labels[rows[backed]] = proposed[rows[backed]]
    return labels


def _nearest(distances: np.ndarray, m: int) -> np.ndarray:
    """Per row, the columns of its m smallest distances, nearest first, ties by column (a stable sort's first m).

    A partition finds each row's m-th distance in time linear in the photos; only the columns at or below it
    are sorted, so the search no longer sorts every row of 100,000 distances.
    """
    kth = np.partition(distances, m - 1, axis=1)[:, m - 1]
    nearest = np.empty((len(distances), m), np.int64)
    for r, (row, bound) in enumerate(zip(distances, kth)):
        candidates = np.flatnonzero(row <= bound)
        nearest[r] = candidates[np.lexsort((candidates, row[candidates]))[:m]]
    return nearest


def constrained_kmeans(X: sparse.csr_matrix, start: np.ndarray, free: np.ndarray,
                       sample_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means from the clusters `start`, reassigning only the `free` photos: (clusters, squared distances,
    centroids).

    Each centroid is its members' weighted mean, so a corrected photo (weight above one) pulls its
    cluster's centroid towards itself. Centroids are dense (K x |V|), photos stay sparse: at the
    7B's 32,000-token vocabulary a dozen centroids are a few MB, and a distance is a sparse product.
    A cluster whose free photos all leave it keeps its last centroid (its fixed photos stay in it).
    """
    k = int(start.max()) + 1
    norms = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    clusters = start.copy()
    centres = np.zeros((k, X.shape[1]))
    for _ in range(MAX_ROUNDS):
        for c in range(k):
            members = np.flatnonzero(clusters == c)
            if len(members):
                w = sample_weight[members]
                centres[c] = np.asarray(X[members].T @ w).ravel() / w.sum()
        distances = norms[:, None] - 2 * np.asarray(X @ centres.T) + (centres * centres).sum(axis=1)[None]
        moved = np.where(free, distances.argmin(axis=1), clusters)
        if (moved == clusters).all():
            break
        clusters = moved
    return clusters, distances, centres


def _pseudo_labels(clusters: np.ndarray, distances: np.ndarray, untouched: np.ndarray, fixed: np.ndarray,
                   alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Every corrected photo, plus per cluster the alpha fraction of its untouched members closest to its centroid."""
    rows, targets = [fixed], [clusters[fixed]]
    for c in range(distances.shape[1]):
        members = np.flatnonzero(untouched & (clusters == c))
        if len(members) == 0:
            continue
        take = max(1, int(round(alpha * len(members))))
        core = members[np.argsort(distances[members, c], kind="stable")[:take]]
        rows.append(core)
        targets.append(np.full(len(core), c))
    return np.concatenate(rows), np.concatenate(targets)
