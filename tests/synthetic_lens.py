"""Synthetic photos-as-lens-vectors with two planted criteria, for testing the method alone.

Every photo has a colour (4 values) and a shape (3 values). Lens noise tokens come
from a shared pool with Zipf-like frequencies, as real lens distributions share
frequent tokens. For each criterion
there is a full (layer x position) grid of top-50 lens distributions; at the
planted pair the criterion's token carries most of the mass, the other
criterion's token a little (cross-talk), the rest is per-photo noise tokens.
Nearby pairs carry a weaker echo, so localization has something to reject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from esmc_desktop.mllm.logit_lens import SparseLens

N_VOCAB = 32000
TOP_K = 50
N_LAYERS, N_POSITIONS = 8, 6
COLOR_WORDS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPE_WORDS = ["circle", "square", "triangle", "star", "heart"]
TOKEN_OF = {w: 100 + i for i, w in enumerate(COLOR_WORDS)} | {w: 200 + i for i, w in enumerate(SHAPE_WORDS)}
WORD_OF = {t: w for w, t in TOKEN_OF.items()}
PLANTED = {"color": (5, 3), "shape": (6, 4)}
N_VALUES = {"color": 4, "shape": 3}
CRITERION_SEED = {"color": 11, "shape": 22}
WORDS = {"color": COLOR_WORDS, "shape": SHAPE_WORDS}
# Lens noise is made of tokens shared across photos (as real lens distributions are), Zipf-like frequencies
NOISE_POOL = np.random.default_rng(1234).choice(np.arange(1000, N_VOCAB), size=400, replace=False)
NOISE_P = 1.0 / np.arange(1, 401) ** 0.8
NOISE_P /= NOISE_P.sum()


def token_text(token: int) -> str:
    """Readable text for synthetic token ids: keywords by name, the rest as noise pieces."""
    return " " + WORD_OF[token] if token in WORD_OF else f"<{token}>"


@dataclass
class SyntheticPhotos:
    labels: dict[str, np.ndarray]
    seed: int
    signal: tuple[float, float]
    flip: float

    @property
    def n(self) -> int:
        return len(self.labels["color"])

    def _lens(self, rng, main: int | None, main_p: float, cross: int | None, cross_p: float):
        noise = rng.choice(NOISE_POOL, size=TOP_K, replace=False, p=NOISE_P)
        weights = rng.dirichlet(np.full(TOP_K, 0.3)) * (1 - main_p - cross_p)
        weights = np.minimum(weights, 0.15)
        weights *= (1 - main_p - cross_p) / weights.sum()
        idx, val = noise.copy(), weights
        if main is not None:
            idx[0], val[0] = main, main_p + val[0] * 0
        if cross is not None:
            idx[1], val[1] = cross, cross_p
        val = val / val.sum()
        order = np.argsort(-val)
        return idx[order], val[order].astype(np.float32)

    def _tokens(self, criterion: str, i: int, rng) -> int:
        label = int(self.labels[criterion][i])
        if rng.random() < self.flip:
            label = int(rng.integers(N_VALUES[criterion]))
        return TOKEN_OF[WORDS[criterion][label]]

    def grid(self, criterion: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(layers, positions, k) indices and values of photo i's lens for this criterion's prompt."""
        rng = np.random.default_rng((self.seed, i, CRITERION_SEED[criterion]))
        other = "shape" if criterion == "color" else "color"
        main = TOKEN_OF[WORDS[criterion][int(self.labels[criterion][i])]]
        cross = TOKEN_OF[WORDS[other][int(self.labels[other][i])]]
        pl, pp = PLANTED[criterion]
        idx = np.empty((N_LAYERS, N_POSITIONS, TOP_K), np.int64)
        val = np.empty((N_LAYERS, N_POSITIONS, TOP_K), np.float32)
        for layer in range(N_LAYERS):
            for pos in range(N_POSITIONS):
                distance = abs(layer - pl) + abs(pos - pp)
                if distance == 0:
                    p = rng.uniform(*self.signal)
                elif distance == 1:
                    p = rng.uniform(0.02, 0.22)
                else:
                    p = 0.0
                idx[layer, pos], val[layer, pos] = self._lens(rng, main if p else None, p, cross, 0.04)
        return idx, val

    def target_vectors(self, criterion: str) -> sparse.csr_matrix:
        """The lens vectors at the planted pair for every photo (what the head clusters)."""
        pl, pp = PLANTED[criterion]
        rows_i, rows_v = [], []
        for i in range(self.n):
            rng = np.random.default_rng((self.seed, i, CRITERION_SEED[criterion], 7))
            other = "shape" if criterion == "color" else "color"
            cross = TOKEN_OF[WORDS[other][int(self.labels[other][i])]]
            idx, val = self._lens(rng, self._tokens(criterion, i, rng), rng.uniform(*self.signal), cross, 0.04)
            rows_i.append(idx)
            rows_v.append(val)
        return SparseLens(np.array(rows_i), np.array(rows_v), N_VOCAB).to_csr()


def make_photos(n: int, seed: int = 0, signal: tuple[float, float] = (0.3, 0.7), flip: float = 0.0) -> SyntheticPhotos:
    rng = np.random.default_rng(seed)
    labels = {c: rng.integers(0, N_VALUES[c], n) for c in ("color", "shape")}
    return SyntheticPhotos(labels, seed, signal, flip)


def keyword_probs(photos: SyntheticPhotos, criterion: str, sample: np.ndarray) -> np.ndarray:
    """(photos, layers, positions, keywords) probabilities, as the pipeline computes them from the lens."""
    ids = np.array([TOKEN_OF[w] for w in WORDS[criterion]])
    out = []
    for i in sample:
        idx, val = photos.grid(criterion, int(i))
        hit = idx[..., :, None] == ids[None, None, None, :]
        out.append((hit * val[..., :, None]).sum(axis=2))
    return np.stack(out)
