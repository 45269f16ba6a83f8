"""Learning from the user's corrections: Algorithm 2 again, seeded by the clusters the user corrected, on log features.

A correction is a photo the user put into a cluster by hand. Retraining a criterion's head:

- Clusters: the current ones with every correction applied. A correction into a cluster id
  past the last one makes a new cluster (K grows); a cluster left with no photo at all is
  removed (`kept` maps the new ids to the old ones).
- The photos are read as log features of their lens vectors (`head.log_features`, floor
  `LOG_FLOOR`), not as the probabilities the first clustering reads. Why: where the first
  clustering is mediocre, the criterion is in the reading but carried by tokens at 1e-3 to 1e-2
  beside a dominant 0.5 (a prior, a neighbouring word), which a distance between probability
  vectors does not see; the user's corrections are exactly such photos. On a log scale those tokens
  count. The first clustering stays on probabilities: that is ESMC's target embedding as the paper
  and its code define it.
- Pseudo-labels are derived again by constrained k-means (Basu, Banerjee & Mooney 2002,
  "Semi-supervised clustering by seeding", Constrained-KMeans): centroids start at the means
  of the corrected clusters, every corrected photo stays fixed in the user's cluster (and pulls
  its centroid), and only the untouched photos are reassigned until nothing moves.
- The head is Algorithm 2's MLP, reading the log features: per cluster the alpha fraction of its
  untouched members closest to its constrained centroid, plus every corrected photo as a fixed
  label weighted `weight` times a pseudo-label; trained afresh (same recipe and seed as the first
  one), so what was learnt is in the weights: `assign` and the saved ONNX heads use it (the ONNX
  graph computes the log features itself).
- Only untouched photos are re-sorted; a corrected photo keeps the user's cluster, always.
- A retrained head that leaves a cluster with none of its untouched photos failed to learn
  it: as Algorithm 2's head does then, the constrained k-means clusters are kept, as
  nearest-centroid weights whose softmax is no confidence (`HeadWeights.has_confidence`).
- An untouched photo keeps its cluster unless the corrections give evidence against it: the head
  (or the fallback) proposes a cluster, and the photo moves there only when its look-alikes go
  there too, i.e. among its LOOK_ALIKES nearest photos in the same log features more are going to
  the proposed cluster than staying in its old one (a corrected photo counts where the user put
  it, an untouched one where the head puts it). Why: a correction is evidence about the photos
  read like the corrected one, and what it teaches (a value the first clustering merged with
  another, a prior the user overruled) moves them as a group. A head trained on a few dozen
  pseudo-labels and a handful of corrections can also tell a corrected photo from its old cluster
  by a quiet token it shares with a few photos by chance, and then moves those alone. LLaVA-1.5-7b's
  lens vectors keep their top 50 of 32,000 tokens (the demo model's 50 of 700), so most quiet tokens
  are shared by few photos: the real model offers the head more such tokens, not fewer. Measured
  with the demo model on 60 held-out photos sorted by shape, every wrong photo moved to its right
  cluster: learning moved a right photo in 7 of 43 such sets (untouched photos' NMI 0.960-0.964;
  one at squared distance 0.04 from its old cluster's centroid, 1.0 from the new one's), and its
  look-alikes stayed; with the vote no photo moved in the 43. A photo's confidence is the head's
  probability of the cluster it is in, so one the head would have moved but its look-alikes kept
  shows a low one.
  Label-free: it reads the vectors, the corrections and the current clusters.
- Before the vote, where the log features do not read what the user corrects, a move must be surer
  than the clustering it overrules (`log_scale_predicts`, `keep_what_was_sure`): k-means on the log
  features started from the current clusters, with no correction, is a control; when it puts no
  more than 1/K of the corrected photos where the user put them (chance), the corrections give no
  sign that the log features see better than the probabilities the current clustering read, and an
  untouched photo moves only when the retrained head's probability of its new cluster is above the
  current head's probability of its old one (both temperature-calibrated on unseen photos). Why: on
  LLaVA-1.5's last blocks, read through the final norm, the lens vectors are near right and their
  log features mix values the probabilities keep apart; a head that learns there drags right photos
  with a corrected look-alike, and its look-alikes in log features back the move. Measured (demo
  model, README table in docs/learning.md): shape 3:' is' -0.053 -> +0.000 and background
  3:' ASSISTANT' -0.055 -> +0.004 at 5 corrections per cluster; the readings where the control does
  predict the corrections keep their gains whole (+0.093 to +0.418); the three weakest (first NMI
  0.21-0.48, control at chance) lose theirs (+0.106..+0.145 -> +0.001..+0.010): there the first head
  is as sure of its wrong clusters as of its right ones, and no per-photo comparison measured here
  (ranks of the two probabilities, a k-nearest vote on the corrected clusters, a vote in the
  probabilities) told the two cases apart.

Measured (benchmarks/learn_from_corrections.py, demo model, 400 held-out photos, readings at weak
places whose first clustering has NMI 0.55-0.65 while a classifier trained on the true labels
reaches 0.80-1.00 on the same vectors; README has the table): 5 corrections per cluster lift the
untouched photos' NMI by +0.09 to +0.42, as before the look-alike vote (within 0.011). Part of that
is the log scale itself (the benchmark prints k-means on log features from the first clusters with
no correction as a control), part the corrections (+0.1 to +0.3 over that control where the log
scale alone does not fix the clustering). On weaker readings (first NMI 0.21-0.48) the vote keeps
+0.11 to +0.15 of the +0.15 to +0.19. On a reading that is already right (shape at its chosen
place, NMI 0.93, every wrong photo corrected) it costs 0.009: one photo read almost as three
photos the user moved goes with them (it cost 0.029, four photos, without the vote). Those figures
were read with the demo model's last block raw; read through the final norm, as the lens reads it
now, the last block's readings are near right before any correction (0.81-1.00) and learning costs
0.053-0.055 there at 5 corrections per cluster: the vote does not yet keep what was right on them.

Ways measured worse: pseudo-labels taken from the current head's surest photos let the retrained
head drift wherever its cores left room; centroids started from the corrected photos alone
(Basu's Seeded-KMeans) start from the borders and lost up to 0.38 NMI; the MLP on probabilities
cannot hold labels carried by tokens near 0.01 (it kept +0.00 to +0.05 of what a logistic
regression on log features gained). Instead of the look-alike vote: moving a photo only where the
constrained k-means agrees with the head kept the already-right reading whole but lost a third of
colour 3:':' gain (+0.305 -> +0.213) and most of the weaker readings' (their gain is the head's);
moving it only where a corrected photo in the new cluster is nearer than its old centroid lost up
to 0.3 with one correction per cluster and still cost the already-right reading 0.021.

Confidences are calibrated as in the first clustering (head.calibrate), on the untouched photos
outside the training set, against the constrained clusters.
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
                           confidences=None) -> Learnt:
    """Retrain on the cached vectors X with the user's `corrections` (photo index -> cluster id).

    `labels` are the current clusters. A correction may name cluster K, K+1...: new clusters.
    `confidences`: the current head's probability of each photo's cluster (NaN where not known; None:
    none known), what the clustering the user corrected said of each photo (see `keep_what_was_sure`).
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
    if confidences is not None and weights.has_confidence and not log_scale_predicts(Z, before, current, fixed):
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
