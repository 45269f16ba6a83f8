"""Learning from the user's corrections: Algorithm 2 again, with the user where the user spoke.

A correction is a photo the user put into a cluster by hand. Retraining a criterion's head:

- Clusters: the current ones with every correction applied. A correction into a cluster id
  past the last one makes a new cluster (K grows); a cluster left with no photo at all is
  removed (`kept` maps the new ids to the old ones).
- Training set: every corrected photo as a fixed label, weighted `weight` times a pseudo-label,
  plus, per cluster, the alpha fraction of its untouched photos the current head is surest of:
  the cluster's core, in the role k-means's closest photos play in the first clustering.
- The MLP is trained afresh (same recipe and seed as the first one), so what was learnt from
  the corrections is in the weights: `assign` and the saved ONNX heads use it.
- Only untouched photos are re-sorted; a corrected photo keeps the user's cluster, always.
- A retrained head that leaves a cluster with none of its untouched photos failed to learn
  it: nothing is changed and the user is told to correct a few more of its photos.

Confidences are calibrated as in the first clustering (head.calibrate), on the untouched photos
outside the training set, against the clusters as they were with the corrections applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import sparse
from sklearn.preprocessing import normalize

from esmc_desktop.method.head import HeadWeights, calibrate, confidences, train_mlp
from esmc_desktop.method.validation import MethodInputError, check_vectors

# How many pseudo-labels one correction weighs. Above one, because a correction is the only
# label known to be right; not much above, because the few corrected photos are the least
# certain ones, and a head that must fit them at any price memorises them through their noise
# tokens and drags look-alikes with them (measured with benchmarks/learn_from_corrections.py:
# weight 20 lost up to 0.03 NMI where weight 1-2 gained, see README).
CORRECTION_WEIGHT = 2.0


@dataclass(frozen=True)
class Learnt:
    """A criterion's clustering after learning from corrections, in the new cluster ids."""

    weights: HeadWeights
    labels: np.ndarray  # every photo; corrected photos carry the user's cluster
    confidences: np.ndarray  # NaN where not known; 1.0 for corrected photos (the user said so)
    kept: list[int]  # new cluster id -> cluster id before learning (or a new cluster's id)
    changed: np.ndarray  # untouched photos whose cluster changed (indices)


def learn_from_corrections(X, labels, proba, corrections: Mapping[int, int], *, alpha: float = 0.3,
                           weight: float = CORRECTION_WEIGHT, hidden: int = 512,
                           epochs: int = 100, learning_rate: float | None = None, seed: int = 0) -> Learnt:
    """Retrain on the cached vectors X with the user's `corrections` (photo index -> cluster id).

    `labels` and `proba` are the current clusters and the current head's probabilities
    (n, K). A correction may name cluster K, K+1...: new clusters.
    """
    X = check_vectors(X)
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float32)
    n = X.shape[0]
    if labels.shape != (n,) or proba.shape[0] != n:
        raise MethodInputError(f"{n} photos but {len(labels)} labels and {proba.shape[0]} probabilities")
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
    # The current head's belief per new cluster; a new cluster has none yet (its corrections teach it).
    belief = np.zeros((n, k), np.float32)
    old = [c for c in kept if c < proba.shape[1]]
    belief[:, new_id[old]] = proba[:, old]

    untouched = np.ones(n, bool)
    untouched[fixed] = False
    rows, row_targets, row_weight = _training_set(X, current, new_id[labels], belief, untouched, fixed, alpha,
                                                  weight)
    weights = train_mlp(X, rows, row_targets, k, sample_weight=row_weight, hidden=hidden, epochs=epochs,
                        learning_rate=learning_rate, seed=seed)
    held_out = np.setdiff1d(np.flatnonzero(untouched), rows)
    weights = calibrate(weights, X[held_out], current[held_out])
    proba_new = weights.predict_proba(X)
    new_labels = np.where(untouched, proba_new.argmax(axis=1), current)
    lost = sorted(set(current[untouched].tolist()) - set(new_labels[untouched].tolist()))
    if lost:
        raise MethodInputError(
            f"the retrained head puts none of the untouched photos into cluster {kept[lost[0]] + 1}: it could not "
            "tell that cluster apart. Nothing was changed; move a few more of its photos by hand, then learn again")
    conf = confidences(weights, proba_new)
    conf[fixed] = 1.0
    before = new_id[labels]  # -1 where the photo's old cluster was removed (it had no photo left)
    changed = np.flatnonzero(untouched & (new_labels != before))
    return Learnt(weights, new_labels, conf, kept, changed)


def _training_set(X: sparse.csr_matrix, current: np.ndarray, before: np.ndarray, belief: np.ndarray,
                  untouched: np.ndarray, fixed: np.ndarray, alpha: float,
                  weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corrections (weighted) plus, per cluster, the untouched members the head is surest belong to it.

    A photo the user took out of a cluster says its look-alikes do not belong there either: a
    member more similar (cosine) to such a photo than to its cluster's mean is no core, so the
    head is not taught the very mistake the user corrected; the retrained head decides it.
    """
    Xn = normalize(X)
    rows, targets = [fixed], [current[fixed]]
    for c in range(belief.shape[1]):
        members = np.flatnonzero(untouched & (current == c))
        if len(members) == 0:
            continue
        left = fixed[(before[fixed] == c) & (current[fixed] != c)]
        if len(left):
            centre = normalize(np.asarray(Xn[members].mean(axis=0)))
            own = np.asarray(Xn[members] @ centre.T).ravel()
            closest_left = np.asarray((Xn[members] @ Xn[left].T).max(axis=1).todense()).ravel()
            members = members[closest_left <= own]
        if len(members) == 0:
            continue
        take = max(1, int(round(alpha * len(members))))
        core = members[np.argsort(-belief[members, c], kind="stable")[:take]]
        rows.append(core)
        targets.append(np.full(len(core), c))
    rows_all = np.concatenate(rows)
    sample_weight = np.concatenate([np.full(len(fixed), weight, np.float32),
                                    np.ones(len(rows_all) - len(fixed), np.float32)])
    return rows_all, np.concatenate(targets), sample_weight
