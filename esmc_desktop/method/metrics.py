"""External clustering metrics for benchmarks (ground truth is used here and nowhere in the method)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics


def cluster_accuracy(labels_true, labels_pred) -> float:
    """Accuracy after the best one-to-one matching of clusters to classes (Hungarian)."""
    table = metrics.cluster.contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / np.sum(table))


def scores(labels_true, labels_pred) -> dict[str, float]:
    """NMI, RI, ARI and cluster accuracy."""
    return {
        "nmi": float(metrics.normalized_mutual_info_score(labels_true, labels_pred)),
        "ri": float(metrics.rand_score(labels_true, labels_pred)),
        "ari": float(metrics.adjusted_rand_score(labels_true, labels_pred)),
        "acc": cluster_accuracy(labels_true, labels_pred),
    }
