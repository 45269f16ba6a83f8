"""Names and explanations for clusters, from their members' lens distributions.

Name: the keyword with the most probability mass in the cluster's mean lens
distribution, matched one-to-one across clusters (Hungarian) so names are
unique; a cluster with no keyword mass worth naming gets its top non-stopword
lens tokens instead.

Explanation: the counting algorithm of the text-guided clustering paper
(Appendix C): count each photo's top lens words per cluster, keep the n most
frequent that no other cluster also has in its top n (a shared word is
replaced by the next most frequent of each cluster).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from esmc_desktop.method.keywords import STOPWORDS

MIN_KEYWORD_MASS = 0.05
WORD_PROB = 0.05


def _word(token: str) -> str | None:
    """A lens token as a readable word, or None for punctuation, pieces and stopwords."""
    word = token.strip().lower()
    if len(word) < 2 or not re.fullmatch(r"[^\W\d_]+", word) or word in STOPWORDS:
        return None
    return word


def _cluster_means(X: sparse.csr_matrix, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    onehot = sparse.csr_matrix((np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(n_clusters, len(labels)))
    sizes = np.maximum(np.asarray(onehot.sum(axis=1)).ravel(), 1)
    return np.asarray((onehot @ X).todense()) / sizes[:, None]


def _top_words(row: np.ndarray, token_text: Callable[[int], str], taken: set[str], n: int) -> list[str]:
    words: list[str] = []
    for token in np.argsort(-row)[:200]:
        if row[token] <= 0:
            break
        word = _word(token_text(int(token)))
        if word and word not in taken and word not in words:
            words.append(word)
            if len(words) == n:
                break
    return words


def name_clusters(X, labels, keyword_ids: dict[str, list[int]], token_text: Callable[[int], str],
                  n_clusters: int | None = None) -> list[str]:
    """One unique, short name per cluster id 0..K-1."""
    X = sparse.csr_matrix(X)
    labels = np.asarray(labels)
    k = int(n_clusters if n_clusters is not None else labels.max() + 1)
    means = _cluster_means(X, labels, k)
    names: list[str | None] = [None] * k
    if keyword_ids:
        words = list(keyword_ids)
        mass = np.stack([means[:, ids].sum(axis=1) for ids in keyword_ids.values()], axis=1)
        rows, cols = linear_sum_assignment(-mass)
        for r, c in zip(rows, cols):
            if mass[r, c] >= MIN_KEYWORD_MASS:
                names[r] = words[c]
    used = {n for n in names if n}
    for cluster in range(k):
        if names[cluster] is None:
            top = _top_words(means[cluster], token_text, used, 2)
            names[cluster] = " ".join(top) if top else f"cluster {cluster + 1}"
            used.add(names[cluster])
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return unique


def photo_tokens(X, token_text: Callable[[int], str], top: int = 5) -> list[list[tuple[str, float]]]:
    """Per photo, its `top` lens tokens and their probabilities, most probable first: why it is where it is."""
    X = sparse.csr_matrix(X)
    out = []
    for i in range(X.shape[0]):
        start, end = X.indptr[i], X.indptr[i + 1]
        idx, val = X.indices[start:end], X.data[start:end]
        out.append([(token_text(int(idx[j])), float(val[j])) for j in np.argsort(-val, kind="stable")[:top]])
    return out


def photo_words(tokens_per_photo: list[list[tuple[str, float]]], min_prob: float = WORD_PROB) -> list[list[str]]:
    """Per photo, its top lens tokens (from photo_tokens; probability >= min_prob) as words: the text to count."""
    out = []
    for tokens in tokens_per_photo:
        words = []
        for text, prob in tokens:
            word = _word(text) if prob >= min_prob else None
            if word and word not in words:
                words.append(word)
        out.append(words)
    return out


def explain_clusters(words_per_photo: list[list[str]], labels, n: int = 2,
                     n_clusters: int | None = None) -> list[list[str]]:
    """The n most frequent words of each cluster that no other cluster has among its n (Appendix C)."""
    labels = np.asarray(labels)
    k = int(n_clusters if n_clusters is not None else labels.max() + 1)
    ranked = []
    for cluster in range(k):
        counts = Counter(w for i in np.flatnonzero(labels == cluster) for w in words_per_photo[i])
        ranked.append([w for w, _ in counts.most_common()])
    banned: set[str] = set()
    while True:
        active = [[w for w in r if w not in banned][:n] for r in ranked]
        owners = Counter(w for a in active for w in a)
        shared = {w for w, c in owners.items() if c > 1}
        if not shared:
            return active
        banned |= shared
