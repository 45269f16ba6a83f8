"""The clusterings the bench compares ESMC with, on vectors already read from the model.

Every k-means here, and the head's own k-means initialisation, uses the same
number of restarts (KMEANS_RESTARTS) and the same seed per run, so no method is
favoured by a better k-means. Nothing here sees labels except `zero_shot`,
which is given label names only when the bench asks for the labelled upper bound.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from esmc_desktop.method.head import ClusteringHead

KMEANS_RESTARTS = 10  # the head's k-means restarts (ClusteringHead's n_init); shared by every method
READOUTS = ("argmax", "kmeans")
TFIDF_MAX_FEATURES = 2000  # the text-guided clustering paper's cap (scikit-learn, English stop words removed)


def kmeans(X, k: int, seed: int, restarts: int = KMEANS_RESTARTS) -> KMeans:
    """A fitted k-means. Identical rows are normal in baselines (many photos give the same
    one-word answer); k-means then finds fewer clusters than asked, which the scores show."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(k, n_init=restarts, random_state=seed).fit(X)


def head_outputs(head: ClusteringHead, X: sparse.csr_matrix) -> np.ndarray:
    """The trained MLP's logits (what ESMC's released script clusters with k-means)."""
    return head.weights_.logits(X.tocsr())


def esmc_head(X: sparse.csr_matrix, k: int, seed: int, *, alpha: float, readout: str = "argmax",
              optimizer: str = "sgd", restarts: int = KMEANS_RESTARTS) -> tuple[np.ndarray, ClusteringHead]:
    """ESMC's clustering head; labels by the MLP's argmax (Algorithm 2) or by k-means on its
    outputs (the released script), that k-means with the same restarts and seed."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    head = ClusteringHead(k, alpha=alpha, seed=seed, n_init=restarts, optimizer=optimizer).fit(X)
    if readout == "argmax":
        return head.labels_, head
    return kmeans(head_outputs(head, X), k, seed, restarts).labels_, head


def text_vectors(documents: list[str]) -> sparse.csr_matrix:
    """TF-IDF of each photo's generated text, as the text-guided clustering paper does it:
    scikit-learn's English stop words removed, vocabulary capped at 2000 words."""
    vectorizer = TfidfVectorizer(stop_words="english", max_features=TFIDF_MAX_FEATURES)
    try:
        return vectorizer.fit_transform(documents).tocsr()
    except ValueError:  # no word left in any answer: every photo reads the same
        return sparse.csr_matrix((len(documents), 1), dtype=np.float64)


def zero_shot(keyword_logits: np.ndarray) -> np.ndarray:
    """Each photo's most probable keyword: (n_photos, n_keywords) logits -> keyword index."""
    return np.asarray(keyword_logits).argmax(axis=1)
