"""Target-embedding localization (ESMC Algorithm 1): where in the model a criterion is read.

Input: for N sampled photos, each keyword's logit-lens probability at every
(layer, text position). The search covers the criterion prompt's own tokens by
default (`span`); the paper reads the criterion noun (E27 of 32 for
LLaVA-1.5-7b).

Two rules, both label-free:

`paper` is Algorithm 1 as written: every (photo, keyword) whose probability
exceeds the threshold (0.2) adds one to its (layer, position), over every
position of the prompt, each keyword read through its first token only; the
most counted pairs are the target set, all kept and shown; the product reads
the earliest layer of the set (the paper prefers earlier layers), then the
earliest position.

`settled` (the default) is built on how a real LLM's lens behaves (logit-lens
and tuned-lens studies of LLaMA-family models; ESMC's Figure 3):
- *Photo-dependent mass, not shared mass.* An LLM has language priors: an
  image-independent favourite answer that every photo's lens shows alike,
  strongest at the answer slot. A photo reads the keyword whose probability
  most exceeds what the sample's typical photo (the median) gives it there,
  the photo's own share, where that probability passes the threshold. A
  prior then reads at random (whose prior is a little above the median), a
  reading the next blocks do not keep, and a place where the prior and the
  answer both pass the threshold reads the answer.
- *Readings that settle and stay.* Early blocks read the input's own pieces,
  middle blocks scattered pieces that change from block to block; the answer,
  once it forms, stays to the last block. So a photo's reading counts only
  where it still leans to the same keyword (however softly) in the next few
  blocks (STAY_DEPTH of the depth): mid-depth junk, and a class that synonyms
  or spellings split anew per block ('gray', 'grey'), do not stay.
- *More distinctions, not more confidence.* The score is the share of the
  sample photos whose reading stays times the entropy (bits) of those
  readings: a confident early block that reads two classes as one carries
  fewer bits than the later blocks that tell them apart, and a sharp answer
  slot where most photos read the prior carries fewer than a softer but right
  criterion noun.
The highest score wins; among exact equals (a settled answer reads the same
over several blocks) the earliest layer, as the paper prefers, then the
earliest position. When no place scores (every photo alike, or only the prior
speaks) or no keyword passes the threshold anywhere, the rule falls back and
says so; the message always says why the place was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from esmc_desktop.method.choices import DEFAULT_RULE, DEFAULT_SAMPLES, RULE_VERSIONS
from esmc_desktop.method.validation import MethodInputError

DEFAULT_THRESHOLD = 0.2
STAY_DEPTH = 0.1
"""For how much of the depth a reading must stay (at least one block): 3 of LLaVA-1.5-7b's 32 blocks, short
of the 6-7 over which ESMC's Figure 3 shows the answer hold at the criterion noun (E25-E31), long enough
that a reading drawn anew per block (mid-depth junk, a class split between synonyms) cannot agree by chance."""
ALIKE = 0.8
"""A place where this share of the photos read the same keyword reads alike (said when it is skipped)."""
DEFAULT_TARGET_DEPTH = 0.85
"""Where a criterion is read when nothing can be localized: ESMC's LLaVA-1.5-7b targets sit at block 25-27 of 32."""


@dataclass(frozen=True)
class Localization:
    """The chosen (layer, position), with the evidence for it."""

    layer: int
    position: int
    counts: np.ndarray  # (n_layers, n_positions) what the rule scored: settled bits (settled), keyword hits (paper)
    mean_keyword_prob: np.ndarray  # (n_layers, n_positions) mean over photos of the summed keyword probability
    n_samples: int
    fallback: bool
    message: str
    rule: str = DEFAULT_RULE
    ties: tuple[tuple[int, int], ...] = ()  # every (layer, position) that scored as high as the chosen one
    reads: np.ndarray | None = None  # (n_layers, n_positions) sample photos whose top keyword passes the threshold
    top_keywords: tuple[tuple[str, ...], ...] = ()  # per layer and position, the keyword most photos read there

    def place_text(self, layer_row: int, position: int) -> str:
        """What the sample photos read at one place, in words (for a map of the places)."""
        if self.reads is None or not self.top_keywords:
            return ""
        n = int(self.reads[layer_row, position])
        top = self.top_keywords[layer_row][position]
        return f"{n} of {self.n_samples} sample photos read a keyword" + (f", most often {top!r}" if top else "")


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
    evidence = _evidence(probs, threshold, names)
    if rule == "paper":
        counts = (probs > threshold).sum(axis=(0, 3))
        ties = _best(counts, allowed)
        if not ties:
            return _no_keyword(probs, mass, allowed, names, threshold, rule, counts)
        li, pi = ties[0]
        listed = "; ".join(names.where(*t) for t in ties[:6]) + ("; ..." if len(ties) > 6 else "")
        message = (f"{names.where(li, pi)}: {int(counts[li, pi])} keyword hits above {threshold} in {n_photos} "
                   f"photos, the most of any place (the paper's Algorithm 1); the target set is the "
                   f"{len(ties)} place{'s' if len(ties) > 1 else ''} with that count ({listed}), read at the "
                   f"earliest layer")
        return Localization(names.layers[li], pi, counts, mass, n_photos, False, message, rule, tuple(ties), *evidence)

    readings = photo_readings(probs, threshold)
    score = settled_information(probs, threshold)
    ties = _best(score, allowed)
    if ties:
        li, pi = ties[0]
        here = readings[:, li, pi]
        read = int((here >= 0).sum())
        message = (f"{names.where(li, pi)}: {read} of {n_photos} photos read a keyword of their own there, "
                   f"{_spread(here, names)}, and the next blocks keep that reading ({score[li, pi]:.2f} bits "
                   f"that settle, the most of any place)")
        if len(ties) > 1:
            message += f"; the earliest layer of the {len(ties)} places that score as high"
        message += _skipped(probs, readings, score, allowed, (li, pi), names, threshold)
        return Localization(names.layers[li], pi, score, mass, n_photos, False, message, rule, tuple(ties), *evidence)

    top_p = probs.max(axis=3)
    counts = ((top_p > threshold) & allowed).sum(axis=0)
    if counts.max() <= 0:
        return _no_keyword(probs, mass, allowed, names, threshold, rule, score)
    li, pi = _best(np.where(allowed, counts, 0), allowed)[0]
    keyword = names.keywords[int(np.bincount(probs[:, li, pi].argmax(axis=1), minlength=n_keywords).argmax())]
    message = (f"no place tells the {n_photos} sample photos apart: wherever a keyword passes {threshold}, the "
               f"photos read it alike, or their readings change from block to block (the photos are alike, or "
               f"only the language prior speaks); using {names.where(li, pi)}, where {int(counts[li, pi])} "
               f"photos read {keyword!r}. Sample more photos or check the keywords.")
    return Localization(names.layers[li], pi, score, mass, n_photos, True, message, rule, (), *evidence)


def _evidence(probs: np.ndarray, threshold: float, names: "_Places") -> tuple[np.ndarray, tuple[tuple[str, ...], ...]]:
    """Per place: how many photos' top keyword passes the threshold, and the keyword most of them read."""
    top_p, top = probs.max(axis=3), probs.argmax(axis=3)
    reads = top_p > threshold
    n_keywords = probs.shape[3]
    counts = np.stack([(reads & (top == k)).sum(axis=0) for k in range(n_keywords)], axis=-1)
    most = counts.argmax(axis=-1)
    words = tuple(tuple(names.keywords[int(most[li, pi])] if counts[li, pi, most[li, pi]] else ""
                        for pi in range(probs.shape[2])) for li in range(probs.shape[1]))
    return reads.sum(axis=0), words


def photo_readings(probs: np.ndarray, threshold: float | None = DEFAULT_THRESHOLD) -> np.ndarray:
    """(photos, layers, positions): the keyword each photo reads of its own at each place, or -1 for none.

    A photo's own share of a keyword is its probability above the sample's median there (the mass every
    photo shares, a language prior among it, is not the photo's). The photo reads the keyword with the
    largest positive share where that keyword's probability passes the threshold (with no threshold:
    wherever the share is positive, where the photo leans).
    """
    own = probs - np.median(probs, axis=0, keepdims=True)
    top = own.argmax(axis=3)
    share = np.take_along_axis(own, top[..., None], axis=3)[..., 0]
    p = np.take_along_axis(probs, top[..., None], axis=3)[..., 0]
    return np.where((share > 0) & (p > (threshold or 0.0)), top, -1)


def settled_information(probs: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(layers, positions): bits of the photos' reading at each place that stay for the next blocks.

    A photo's reading stays when it still leans to the same keyword (its largest own share, however soft:
    a right reading may hover about the threshold) at each of the next STAY_DEPTH blocks (at the last
    block: the one before it). The score is the share of the sample photos whose reading stays times the
    entropy (bits) of those readings.
    """
    readings, leaning = photo_readings(probs, threshold), photo_readings(probs, None)
    n_photos, n_layers, n_positions = readings.shape
    stay = max(1, round(STAY_DEPTH * n_layers))
    score = np.zeros((n_layers, n_positions))
    for li in range(n_layers):
        deeper = list(range(li + 1, min(li + 1 + stay, n_layers))) or [li - 1]
        if deeper == [-1]:
            continue
        here = readings[:, li]
        stays = (leaning[:, deeper] == here[:, None]).all(axis=1) & (here >= 0)
        for pi in np.flatnonzero(stays.sum(axis=0) > 0):
            score[li, pi] = stays[:, pi].mean() * _entropy(here[stays[:, pi], pi])
    return score


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(labels + 1) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _best(score: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Allowed places with the highest positive score, earliest layer first, then earliest position."""
    scored = np.where(allowed, score, 0)
    if scored.max() <= 0:
        return []
    return [(int(li), int(pi)) for li, pi in np.argwhere(np.isclose(scored, scored.max(), rtol=0, atol=1e-9))]


def _skipped(probs, readings, score, allowed, chosen, names: "_Places", threshold: float) -> str:
    """Why the sharpest place (the highest mean top-keyword probability), when not chosen, lost."""
    confidence = np.where(allowed, probs.max(axis=3).mean(axis=0), -1.0)
    sharp = tuple(int(i) for i in np.unravel_index(int(np.argmax(confidence)), confidence.shape))
    if sharp == chosen or confidence[sharp] <= threshold:
        return ""
    top = probs[:, sharp[0], sharp[1]].argmax(axis=1)
    keyword, alike = names.keywords[int(np.bincount(top).argmax())], int(np.bincount(top).max())
    why = (f"{alike} of {len(top)} photos read {keyword!r} there alike, mass every photo shares (a language prior)"
           if alike >= ALIKE * len(top) else f"only {max(score[sharp], 0.0):.2f} bits of its reading stay in the "
                                              f"next blocks")
    return f". Skipped the sharpest place, {names.where(*sharp)}: {why}"


def _spread(reading: np.ndarray, names: "_Places") -> str:
    """'3 different keywords: black 4, white 3, red 2'."""
    counts = np.bincount(reading[reading >= 0], minlength=len(names.keywords))
    order = [k for k in np.argsort(-counts, kind="stable") if counts[k] > 0]
    listed = ", ".join(f"{names.keywords[k]} {int(counts[k])}" for k in order[:4])
    more = ", ..." if len(order) > 4 else ""
    return f"{len(order)} different keyword{'s' if len(order) != 1 else ''} ({listed}{more})"


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
