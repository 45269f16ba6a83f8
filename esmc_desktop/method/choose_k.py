"""Choosing the number of clusters when the user says "auto".

Criterion: the silhouette score of k-means on the lens vectors (Euclidean, as
the head's k-means uses), for each K in the range; the K with the highest
score wins, ties to the smaller K. A K that k-means cannot fill (the photos
read as fewer different things) is not a candidate. Label-free. Above 2,000
photos the score is computed on a seeded sample of 2,000 (silhouette is
quadratic in the count).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from esmc_desktop.method.validation import MethodInputError, check_not_all_identical, check_vectors

K_RANGE = (2, 12)
SILHOUETTE_SAMPLE = 2000


@dataclass(frozen=True)
class KChoice:
    k: int
    scores: dict[int, float]


def choose_k(X, k_min: int = K_RANGE[0], k_max: int = K_RANGE[1], seed: int = 0, n_init: int = 4) -> KChoice:
    X = check_vectors(X, min_rows=3)
    check_not_all_identical(X)
    if k_min < 2 or k_max < k_min:
        raise MethodInputError(f"the K range must satisfy 2 <= k_min <= k_max, got {k_min}..{k_max}")
    k_max = min(k_max, X.shape[0] - 1)
    if k_max < k_min:
        raise MethodInputError(f"{X.shape[0]} photos are too few to choose K in {k_min}..{k_max}")
    sample = min(SILHOUETTE_SAMPLE, X.shape[0])
    scores: dict[int, float] = {}
    for k in range(k_min, k_max + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer groups than k: this k is skipped below
            labels = KMeans(k, n_init=n_init, random_state=seed).fit_predict(X)
        if len(set(labels)) < k:
            continue
        scores[k] = float(silhouette_score(X, labels, sample_size=sample, random_state=seed))
    if not scores:
        raise MethodInputError("the photos could not be split into two or more groups")
    best = max(scores, key=lambda k: (round(scores[k], 6), -k))
    return KChoice(best, scores)
