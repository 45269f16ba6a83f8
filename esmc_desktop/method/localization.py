"""Target-embedding localization (ESMC Algorithm 1): where in the model a criterion is read.

Input: for N sampled photos, each keyword's logit-lens probability at every
(layer, text position). The search covers the criterion prompt's own tokens by
default (`span`); the paper reads the criterion noun (E27 of 32 for
LLaVA-1.5-7b).

Two rules, both label-free:

`paper` is Algorithm 1 as written: every (photo, keyword) whose probability
exceeds the threshold (0.2) adds one to its (layer, position); among the most
counted pairs the earliest layer (then the earliest position) is the target.

`separating` (the default) counts the photos that a place *reads* (their most
probable keyword passes the threshold) but only at places that *tell the photos
apart*: at least two different keywords come out on top there, and the place
carries at least 80% of the information about which photo it looks at that the
best place carries (the mutual information between photo and keyword reading, the
keyword probabilities plus "anything else"). Among the places that read the
most photos it takes the earliest layer. Why, for a real LLaVA-1.5-7b: the
keyword mass of the image's answer appears at the criterion noun from about 80%
of the depth and stays there to the last layer (the paper's Figure 3: "black" at
E27..E30 of the "color" token). An LLM also has language priors, an
image-independent favourite answer, strongest at the answer slot (the paper's
Table 3, "Output"), and often only partly overruled by the image at the layers
where the answer first forms. A prior passes the threshold for every photo
alike, so counting alone (the paper's rule) can pick it, and the clustering is
then noise; a place where (nearly) every photo reads the same keyword says
little about the photos, so it never wins while another place separates them.
Counting each photo once (not each keyword) keeps a place where the lens
hesitates between two keywords from outvoting one where it is sure. Among
places that read as many photos, the earliest layer carries the least language
bias (the paper's Section 4.3 argument) and is where the answer first appears.
Further ties: the higher mean top-keyword probability, then the earlier
position.

When no place separates the sample (all photos alike, or only the prior
speaks) or no keyword passes the threshold anywhere, the rule falls back and
says so; the message always says why the place was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from esmc_desktop.method.choices import DEFAULT_RULE, DEFAULT_SAMPLES, DEFAULT_SPAN, RULE_VERSIONS, SPANS
from esmc_desktop.method.validation import MethodInputError

DEFAULT_THRESHOLD = 0.2
INFORMATION_SHARE = 0.8
"""A place tells the photos apart when it carries at least this share of the best place's information about
them: about as much, so that "the earliest layer among equals" picks among places that are nearly equal."""
DEFAULT_TARGET_DEPTH = 0.85
"""Where a criterion is read when nothing can be localized: ESMC's LLaVA-1.5-7b targets sit at block 25-27 of 32."""


@dataclass(frozen=True)
class Localization:
    """The chosen (layer, position), with the evidence for it."""

    layer: int
    position: int
    counts: np.ndarray  # (n_layers, n_positions) what the rule counted: photos read (separating), keyword hits (paper)
    mean_keyword_prob: np.ndarray  # (n_layers, n_positions) mean over photos of the summed keyword probability
    n_samples: int
    fallback: bool
    message: str
    rule: str = DEFAULT_RULE


def rule_key(rule: str) -> str:
    """The rule with its version, for cache keys."""
    check_rule(rule)
    return f"{rule}-v{RULE_VERSIONS[rule]}"


def check_rule(rule: str) -> None:
    if rule not in RULE_VERSIONS:
        raise MethodInputError(f"unknown localization rule {rule!r}; choose one of {', '.join(RULE_VERSIONS)}")


def sample_photos(n_photos: int, n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of the photos localization looks at: seeded, without replacement."""
    if n_photos < 1:
        raise MethodInputError("no photos to sample from")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_photos, size=min(n_samples, n_photos), replace=False))


def keyword_columns(keyword_ids: dict[str, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, membership) so that `token_probs @ membership` is each keyword's probability.

    A keyword's probability is the sum over its forms' first sub-tokens (" black", " Black"): the mass the lens
    puts on that word, however the model would start writing it.
    """
    tokens = sorted({t for ids in keyword_ids.values() for t in ids})
    column = {t: i for i, t in enumerate(tokens)}
    membership = np.zeros((len(tokens), len(keyword_ids)), np.float32)
    for k, ids in enumerate(keyword_ids.values()):
        membership[[column[t] for t in set(ids)], k] = 1.0
    return np.array(tokens, np.int64), membership


def _check(probs: np.ndarray, threshold: float) -> None:
    if probs.ndim != 4 or 0 in probs.shape:
        raise MethodInputError(f"expected (photos, layers, positions, keywords) probabilities, got shape {probs.shape}")
    if not np.isfinite(probs).all():
        raise MethodInputError("keyword probabilities contain NaN or infinite values")
    if not 0.0 < threshold < 1.0:
        raise MethodInputError(f"threshold must be between 0 and 1, got {threshold}")


class _Places:
    """Names for layers, positions and keywords, to write messages with."""

    def __init__(self, layers: list[int], tokens: Sequence[str] | None, keywords: Sequence[str] | None,
                 n_keywords: int) -> None:
        self.layers, self.tokens = layers, tokens
        self.keywords = list(keywords) if keywords is not None else [f"keyword {k + 1}" for k in range(n_keywords)]

    def where(self, li: int, pi: int) -> str:
        token = f"token {self.tokens[pi]!r}" if self.tokens is not None else f"position {pi}"
        return f"layer {self.layers[li]}, {token}"


def localize(keyword_probs: np.ndarray, threshold: float = DEFAULT_THRESHOLD, layers: list[int] | None = None, *,
             rule: str = DEFAULT_RULE, span: Sequence[int] | None = None, keywords: Sequence[str] | None = None,
             tokens: Sequence[str] | None = None) -> Localization:
    """keyword_probs: (n_photos, n_layers, n_positions, n_keywords) lens probabilities of each keyword.

    `layers` names the block index of each layer row (default 0..n_layers-1); `span` the positions searched
    (default all); `keywords` and `tokens` (the text at each position) only make the message readable.
    """
    probs = np.asarray(keyword_probs, dtype=np.float64)
    _check(probs, threshold)
    check_rule(rule)
    n_photos, n_layers, n_positions, n_keywords = probs.shape
    positions = list(range(n_positions)) if span is None else list(span)
    if not positions or not all(0 <= p < n_positions for p in positions):
        raise MethodInputError(f"the search span {positions} is not within the {n_positions} positions")
    allowed = np.zeros((n_layers, n_positions), bool)
    allowed[:, positions] = True
    names = _Places(list(range(n_layers)) if layers is None else list(layers), tokens, keywords, n_keywords)
    mass = probs.sum(axis=3).mean(axis=0)
    top_p = probs.max(axis=3)
    confidence = top_p.mean(axis=0)
    if rule == "paper":
        counts = (probs > threshold).sum(axis=(0, 3))
        chosen = _earliest(counts, confidence, allowed, prefer_confident=False)
        if chosen is None:
            return _no_keyword(probs, mass, allowed, names, threshold, rule, counts)
        li, pi = chosen
        ties = int(((counts == counts[li, pi]) & allowed).sum())
        message = (f"{names.where(li, pi)}: {int(counts[li, pi])} keyword hits above {threshold} in {n_photos} "
                   f"photos, the most of any place (the paper's Algorithm 1); the earliest layer of {ties} such places")
        return Localization(names.layers[li], pi, counts, mass, n_photos, False, message, rule)

    reads = top_p > threshold
    top_kw = probs.argmax(axis=3)
    per_keyword = np.stack([(reads & (top_kw == k)).sum(axis=0) for k in range(n_keywords)], axis=-1)
    counts = reads.sum(axis=0)
    information = photo_information(probs)
    best = np.where(allowed, information, 0.0).max()
    separates = ((per_keyword > 0).sum(axis=-1) >= 2) & (information >= INFORMATION_SHARE * best) & (best > 0)
    chosen = _earliest(counts, confidence, allowed & separates)
    if chosen is not None:
        li, pi = chosen
        ties = int(((counts == counts[li, pi]) & allowed & separates).sum())
        message = (f"{names.where(li, pi)}: {int(counts[li, pi])} of {n_photos} photos read a keyword above "
                   f"{threshold} there, {_spread(per_keyword[li, pi], names)}; the earliest layer of the {ties} "
                   f"place{'s' if ties > 1 else ''} that read the most photos and tell them apart")
        prior = _earliest(counts, confidence, allowed & ~separates & (counts > 0))
        if prior is not None and (counts[prior], -prior[0]) >= (counts[li, pi], -li):  # it would have won
            keyword = names.keywords[int(per_keyword[prior].argmax())]
            alike = int(per_keyword[prior].max())
            if alike == counts[prior]:
                message += (f". Skipped {names.where(*prior)}, where all {alike} photos read {keyword!r}: the "
                            f"language prior, not the photo")
            else:
                message += (f". Skipped {names.where(*prior)}, where {alike} of the {int(counts[prior])} photos "
                            f"read {keyword!r}: it tells the photos apart {information[prior] / best:.0%} as well "
                            f"as the best place ({information[prior]:.2f} bits against {best:.2f}), the mark of "
                            f"a language prior that the photo only sometimes overrules")
        return Localization(names.layers[li], pi, counts, mass, n_photos, False, message, rule)

    chosen = _earliest(counts, confidence, allowed)
    if chosen is None:
        return _no_keyword(probs, mass, allowed, names, threshold, rule, counts)
    li, pi = chosen
    keyword = names.keywords[int(per_keyword[li, pi].argmax())]
    message = (f"no place tells the {n_photos} sample photos apart: wherever a keyword passes {threshold}, every photo "
               f"reads the same one (the photos are alike, or only the language prior speaks); using "
               f"{names.where(li, pi)}, where {int(counts[li, pi])} photos read {keyword!r}. Sample more photos "
               f"or check the keywords.")
    return Localization(names.layers[li], pi, counts, mass, n_photos, True, message, rule)


def photo_information(probs: np.ndarray) -> np.ndarray:
    """Per (layer, position): the mutual information (bits) between the sample photo and its keyword reading.

    Each photo's reading is its keyword probabilities plus "anything else" (the rest of the lens's mass).
    A language prior reads alike in every photo: about 0 bits. A place that gives each photo its own
    keyword, surely: up to the entropy of the keywords over the sample (2 bits for 4 equally common ones).
    """
    keyword = np.clip(probs, 0.0, None)
    total = keyword.sum(axis=3, keepdims=True)
    keyword = keyword / np.maximum(total, 1.0)  # first sub-tokens shared by two keywords must not exceed 1
    reading = np.concatenate([keyword, 1.0 - keyword.sum(axis=3, keepdims=True)], axis=3).clip(0.0, 1.0)

    def entropy(p: np.ndarray) -> np.ndarray:
        return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=-1)

    return entropy(reading.mean(axis=0)) - entropy(reading).mean(axis=0)


def _earliest(counts: np.ndarray, confidence: np.ndarray, allowed: np.ndarray,
              prefer_confident: bool = True) -> tuple[int, int] | None:
    """Among allowed places with the highest positive count: the earliest layer, then (optionally) the surest,
    then the earliest position. None when no allowed place counts anything."""
    scored = np.where(allowed, counts, 0)
    if scored.max() <= 0:
        return None
    best = np.argwhere(scored == scored.max())
    sure = [-confidence[li, pi] if prefer_confident else 0.0 for li, pi in best]
    order = np.lexsort((best[:, 1], sure, best[:, 0]))
    li, pi = best[order[0]]
    return int(li), int(pi)


def _spread(per_keyword: np.ndarray, names: _Places) -> str:
    """'3 different keywords: black 4, white 3, red 2'."""
    order = [k for k in np.argsort(-per_keyword, kind="stable") if per_keyword[k] > 0]
    listed = ", ".join(f"{names.keywords[k]} {int(per_keyword[k])}" for k in order[:4])
    more = ", ..." if len(order) > 4 else ""
    return f"{len(order)} different keywords on top ({listed}{more})"


def _no_keyword(probs, mass, allowed, names: _Places, threshold: float, rule: str, counts) -> Localization:
    masked = np.where(allowed, mass, -1.0)
    li, pi = np.unravel_index(int(np.argmax(masked)), masked.shape)
    message = (f"no keyword reached probability {threshold} at any layer and position in {probs.shape[0]} photos; "
               f"using {names.where(li, pi)}, where keywords are most probable (mean {mass[li, pi]:.3f}). "
               f"Check the keywords or rephrase the criterion.")
    return Localization(names.layers[li], int(pi), counts, mass, probs.shape[0], True, message, rule)


def default_target(n_layers: int, n_positions: int, why: str, span: Sequence[int] | None = None,
                   tokens: Sequence[str] | None = None, rule: str = DEFAULT_RULE) -> Localization:
    """The place used when localization has nothing to count: about 85% of the depth, the span's last token.

    ESMC's chosen targets for LLaVA-1.5-7b sit at block 25-27 of 32 on the criterion's tokens.
    """
    layer = int(round(DEFAULT_TARGET_DEPTH * (n_layers - 1)))
    position = max(span) if span else max(n_positions - 1, 0)
    where = f"token {tokens[position]!r}" if tokens is not None and position < len(tokens) else f"position {position}"
    return Localization(layer, position, np.zeros((n_layers, n_positions), int), np.zeros((n_layers, n_positions)),
                        0, True, f"{why}; using layer {layer}, {where} (a default, not localized)", rule)
