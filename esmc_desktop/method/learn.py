"""Learning from the user's corrections: Algorithm 2 again, seeded by the clusters the user corrected.

A correction is a photo the user put into a cluster by hand. Retraining a criterion's head:

- Clusters: the current ones with every correction applied. A correction into a cluster id
  past the last one makes a new cluster (K grows); a cluster left with no photo at all is
  removed (`kept` maps the new ids to the old ones).
- Pseudo-labels are derived again by constrained k-means (Basu, Banerjee & Mooney 2002,
  "Semi-supervised clustering by seeding", Constrained-KMeans): centroids start at the means
  of the corrected clusters, every corrected photo stays fixed in the user's cluster (and pulls
  its centroid), and only the untouched photos are reassigned until nothing moves. This is the
  k-means step of the first clustering with the user's photos as seeds, in the same space
  (Euclidean on the lens vectors), so the clusters move only as far as the corrections pull them.
- The head is Algorithm 2's: per cluster the alpha fraction of its untouched members closest to
  its constrained centroid, plus every corrected photo as a fixed label weighted `weight` times a
  pseudo-label; the MLP is trained afresh (same recipe and seed as the first one), so what was
  learnt is in the weights: `assign` and the saved ONNX heads use it.
- Only untouched photos are re-sorted; a corrected photo keeps the user's cluster, always.
- A retrained head that leaves a cluster with none of its untouched photos failed to learn
  it: as Algorithm 2's head does then, the constrained k-means clusters are kept, as
  nearest-centroid weights whose softmax is no confidence (`HeadWeights.has_confidence`).

Why not the ways measured worse (benchmarks/learn_from_corrections.py, README): pseudo-labels
taken from the current head's surest photos let the retrained head drift wherever its cores
left room, and re-sorted up to 90 of 400 untouched photos, more of them wrongly than rightly
(NMI -0.02 to -0.06 on weak readings); centroids started from the corrected photos alone
(Basu's Seeded-KMeans) start from the least certain photos, those at the borders, and lost up
to 0.38 NMI.

Measured for issue 18 and not kept: a discriminative step. A multinomial logistic regression on
log lens probabilities, trained on the untouched photos in their constrained clusters plus the
corrections (together 2x the untouched photos), re-sorts the untouched photos of a shape reading
whose geometry follows colour (demo model, ' is' at 1:7 / 2:7, 5 corrections per cluster, 2 draws)
by +0.13 / +0.27 NMI, where this k-means step gains +0.06, at -0.04 to +0.00 on colour readings
near their ceiling (+0.04 on a background reading where this step gains +0.15); trained on the
corrections alone it gains +0.29 / +0.57 there but loses 0.13-0.21 on colour and background
readings (the corrected photos are borders, not samples of a cluster). But this head, an MLP on
the raw lens probabilities, cannot hold that classifier: trained on its labels it kept +0.00 to
+0.05 of it (even fitted 2,000 Adam epochs on every photo it agreed on 72%), because the tokens
that carry the hidden attribute have probabilities near 0.01 beside the dominant 0.5. Keeping the
gain needs a head that reads log probabilities, in head.py and the ONNX export as well.

Confidences are calibrated as in the first clustering (head.calibrate), on the untouched photos
outside the training set, against the constrained clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import sparse

from esmc_desktop.method.head import HeadWeights, calibrate, centroid_weights, confidences, train_mlp
from esmc_desktop.method.validation import MethodInputError, check_vectors

# How many pseudo-labels one correction weighs. Above one, because a correction is the only
# label known to be right; not much above, because corrected photos are often the least certain
# ones, and a head that must fit them at any price memorises them through their noise tokens and
# drags look-alikes with them (measured with benchmarks/learn_from_corrections.py: weight 5 did
# no better than 2 where the lens vectors separate the values, and worse where they do not).
CORRECTION_WEIGHT = 2.0
# Constrained k-means stops when no untouched photo changes cluster, or after this many rounds.
MAX_ROUNDS = 100


@dataclass(frozen=True)
class Learnt:
    """A criterion's clustering after learning from corrections, in the new cluster ids."""

    weights: HeadWeights
    labels: np.ndarray  # every photo; corrected photos carry the user's cluster
    confidences: np.ndarray  # NaN where not known; 1.0 for corrected photos (the user said so)
    kept: list[int]  # new cluster id -> cluster id before learning (or a new cluster's id)
    changed: np.ndarray  # untouched photos whose cluster changed (indices)


def learn_from_corrections(X, labels, corrections: Mapping[int, int], *, alpha: float = 0.3,
                           weight: float = CORRECTION_WEIGHT, hidden: int = 512,
                           epochs: int = 100, learning_rate: float | None = None, seed: int = 0) -> Learnt:
    """Retrain on the cached vectors X with the user's `corrections` (photo index -> cluster id).

    `labels` are the current clusters. A correction may name cluster K, K+1...: new clusters.
    """
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

    seeded, distances, centres = constrained_kmeans(X, current, untouched, sample_weight)
    rows, row_targets = _pseudo_labels(seeded, distances, untouched, fixed, alpha)
    weights = train_mlp(X, rows, row_targets, k, sample_weight=sample_weight[rows].astype(np.float32),
                        hidden=hidden, epochs=epochs, learning_rate=learning_rate, seed=seed)
    held_out = np.setdiff1d(np.flatnonzero(untouched), rows)
    weights = calibrate(weights, X[held_out], seeded[held_out])
    proba = weights.predict_proba(X)
    if set(seeded[untouched].tolist()) - set(proba[untouched].argmax(axis=1).tolist()):
        # The MLP could not tell a cluster apart (it would get none of its untouched photos): as Algorithm 2's
        # head does then, keep the (constrained) k-means clusters, as nearest-centroid weights without confidence.
        weights = centroid_weights(centres)
        proba = weights.predict_proba(X)
    new_labels = np.where(untouched, proba.argmax(axis=1), current)
    conf = confidences(weights, proba)
    conf[fixed] = 1.0
    before = new_id[labels]  # -1 where the photo's old cluster was removed (it had no photo left)
    changed = np.flatnonzero(untouched & (new_labels != before))
    return Learnt(weights, new_labels, conf, kept, changed)


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
