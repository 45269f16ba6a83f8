"""Target-embedding localization (ESMC Algorithm 1).

On N sampled photos, count the (layer, text position) pairs where any keyword's
lens probability exceeds the threshold (default 0.2), summed over keywords and
photos as in the paper; the most counted pair is the target.

Ties: the pair whose keyword probabilities sum highest over the samples wins;
then the earlier layer (earlier layers carry less language prior, the paper's
argument); then the later position. When no pair reaches the threshold at all,
we fall back to the pair with the highest mean keyword probability and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from esmc_desktop.method.validation import MethodInputError

DEFAULT_THRESHOLD = 0.2
DEFAULT_SAMPLES = 10


@dataclass(frozen=True)
class Localization:
    """The chosen (layer, position), with the evidence for it."""

    layer: int
    position: int
    counts: np.ndarray  # (n_layers, n_positions) threshold crossings
    mean_keyword_prob: np.ndarray  # (n_layers, n_positions) mean over photos of the summed keyword probability
    n_samples: int
    fallback: bool
    message: str


def sample_photos(n_photos: int, n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of the photos localization looks at: seeded, without replacement."""
    if n_photos < 1:
        raise MethodInputError("no photos to sample from")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_photos, size=min(n_samples, n_photos), replace=False))


def localize(keyword_probs: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
             layers: list[int] | None = None) -> Localization:
    """keyword_probs: (n_photos, n_layers, n_positions, n_keyword_tokens) lens probabilities.

    `layers` names the block index of each layer row (default 0..n_layers-1).
    """
    probs = np.asarray(keyword_probs, dtype=np.float64)
    if probs.ndim != 4 or 0 in probs.shape:
        raise MethodInputError(f"expected (photos, layers, positions, keywords) probabilities, got shape {probs.shape}")
    if not np.isfinite(probs).all():
        raise MethodInputError("keyword probabilities contain NaN or infinite values")
    if not 0.0 < threshold < 1.0:
        raise MethodInputError(f"threshold must be between 0 and 1, got {threshold}")
    layer_ids = list(range(probs.shape[1])) if layers is None else list(layers)
    counts = (probs > threshold).sum(axis=(0, 3))
    mass = probs.sum(axis=3).mean(axis=0)
    n_layers, n_positions = counts.shape
    layer_rank = np.arange(n_layers)[:, None] * np.ones((1, n_positions))
    position_rank = np.ones((n_layers, 1)) * np.arange(n_positions)[None, :]
    order = np.lexsort((-position_rank.ravel(), layer_rank.ravel(), -mass.ravel(), -counts.ravel()))
    best = int(order[0])
    li, pi = divmod(best, n_positions)
    fallback = counts.max() == 0
    if fallback:
        message = (f"no keyword reached probability {threshold} at any layer and position in {probs.shape[0]} photos; "
                   f"using layer {layer_ids[li]}, position {pi}, where keywords are most probable "
                   f"(mean {mass[li, pi]:.3f}). Check the keywords or rephrase the criterion.")
    else:
        message = (f"layer {layer_ids[li]}, position {pi}: keywords above {threshold} "
                   f"{int(counts[li, pi])} times in {probs.shape[0]} photos")
    return Localization(layer_ids[li], pi, counts, mass, probs.shape[0], bool(fallback), message)


def default_target(n_layers: int, n_positions: int, why: str) -> Localization:
    """The pair used when localization has nothing to count: about 85% of the depth, last position.

    ESMC's chosen targets for LLaVA-1.5-7b sit at layer 25-27 of 32 on the last prompt tokens.
    """
    layer = int(round(0.85 * (n_layers - 1)))
    position = max(n_positions - 1, 0)
    return Localization(layer, position, np.zeros((n_layers, n_positions), int), np.zeros((n_layers, n_positions)),
                        0, True, f"{why}; using layer {layer}, position {position} (a default, not localized)")
