"""Sorting photos into values the user names ("beach, mountains, city"), and `other` for photos that read none.

At the criterion's place each photo's lens vector gives each value a probability: the mass the lens puts on
the value's pieces (`localization.keyword_columns`: every form's first piece, as the keywords are read). A
photo goes to its most probable value when that value takes a clear share of the lens; otherwise to `other`.

What a clear share is, label-free, from the photos' own readings, in three steps:
- The prior comes off. A language model reads some values whatever the photo shows (its favourite answer,
  a word the prompt suggests); what a value takes on a photo that does not show it is no evidence. A value's
  *prior* is the PRIOR_QUANTILE (25th) percentile of its mass over the sample, what it gets on the photos
  that show it least, and a photo's *evidence* for the value is its mass less that prior. A quarter, not
  the median, so a value shown on most photos (a holiday that is mostly beach) keeps its evidence: its
  prior is read on the quarter of photos that are not of it. Each photo's best value is the one with the
  most evidence.
- The typical reading. The photos that read a value at all are those whose best evidence is at least a
  quarter (READER_SHARE) of the surest readings' (the TOP_QUANTILE, 95th percentile); the *reference* is
  their median best evidence. Relative to the surest readings, not a fixed probability, because how much of
  the lens an answer takes depends on the model, the block and the criterion: the demo model's last block
  puts 0.99 on the answer, while LLaVA-1.5-7b's logit lens at block 26 of 32 spreads 0.2-0.6 of its top-50
  mass over the word, its casing and plural, synonyms, sub-word pieces and lead-ins (" the"); at such
  levels hardly a photo's value crosses Algorithm 1's 0.2, and a reference taken over those few is the
  strongest tail's, which sent 10-50% of the named values' photos to `other` (tests/values_simulator.py).
- A photo whose best evidence is below SHARE (half) of the reference reads none of the values and goes to
  `other`: half is the midpoint between a photo that reads no value (evidence near 0) and one that reads its
  value as the sample's typical reading does, so each photo goes to the nearer of the two. A photo of a
  value nobody named puts its mass on its own word, so the named values keep only what look-alike answers
  get beside it (an orange car gives " red" some); a photo of a named value whose reading is soft still
  keeps more than half of the typical reading on its value, most of the time.
Measured on simulated 7B readings (docs/values.md: the left-out value's photos to `other`, and the named
values' photos kept, at answer masses 0.2-0.6) and on the demo world (docs/benchmarks.md, *Named values*). With no photo
reading any value above READ (Algorithm 1's "high logit", 0.2; localization chose this place because sample
photos read keywords above it) nothing can be told apart: every photo goes to its most probable value, and
the result says so.

`value_head` writes the rule as the clustering head's two-layer network (hidden units = the values' masses,
the priors in the output biases), so saved heads and `assign` sort new photos exactly as the rule does, a kind
of photo never seen included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.keywords import FALLBACK, MIN_KEYWORDS
from esmc_desktop.method.localization import keyword_columns
from esmc_desktop.method.validation import MethodInputError

OTHER = "other"
READ = 0.2
SHARE = 0.5
PRIOR_QUANTILE = 25
TOP_QUANTILE = 95
READER_SHARE = 0.25
SCALE = 1e4
"""The head's logits are SCALE x mass: a discovered cluster's own logits (bounded by a few units) then move
the border between a value and `other` by well under a thousandth of probability."""


@dataclass(frozen=True)
class ValueSort:
    """Each photo's value (index into the values; len(values) is `other`) and the evidence."""

    labels: np.ndarray
    mass: np.ndarray  # (n_photos, n_values) the lens probability of each value
    reference: float  # the median best evidence of the photos that read a value at all
    cutoff: float  # below this best evidence (mass less the value's prior) a photo is `other`
    prior: np.ndarray  # (n_values,) what each value takes on the photos that show it least
    note: str = ""


def value_mass(X, value_ids: dict[str, list[int]]) -> np.ndarray:
    """(n_photos, n_values): the lens probability of each value, summed over its forms' first pieces."""
    X = sparse.csr_matrix(X)
    tokens, membership = keyword_columns(value_ids)
    if len(tokens) == 0:
        return np.zeros((X.shape[0], len(value_ids)), np.float32)
    return np.asarray(X[:, tokens].todense(), np.float32) @ membership


def sort_into_values(X, value_ids: dict[str, list[int]], read: float = READ, share: float = SHARE) -> ValueSort:
    """Every photo to the value it reads most above that value's prior, or to `other` (label len(values)) when it
    reads none clearly."""
    if not value_ids:
        raise MethodInputError("no value could be read: name at least one value the model has a word for")
    mass = value_mass(X, value_ids)
    if not mass.size or mass.max() <= read:
        labels = mass.argmax(axis=1) if mass.size else np.zeros(mass.shape[0], int)
        return ValueSort(labels, mass, 0.0, 0.0, np.zeros(len(value_ids), np.float32),
                         f"no photo reads any of the values with a probability above {read:g} here, so none could "
                         f"be told from `{OTHER}`: every photo went to its most probable value; name the values as "
                         f"the model would write them, or read the criterion at another place")
    prior = value_prior(mass)
    evidence = mass - prior
    reference, cutoff = value_cutoff(evidence, share)
    labels = np.where(evidence.max(axis=1) >= cutoff, evidence.argmax(axis=1), len(value_ids))
    return ValueSort(labels, mass, reference, cutoff, prior)


def value_prior(mass: np.ndarray) -> np.ndarray:
    """(n_values,): what each value takes on the photos that show it least (its PRIOR_QUANTILE percentile)."""
    return np.percentile(mass, PRIOR_QUANTILE, axis=0).astype(np.float32)


def value_cutoff(evidence: np.ndarray, share: float = SHARE) -> tuple[float, float]:
    """(reference, cutoff) from the photos' evidence for each value (mass less prior): the rule above."""
    best = evidence.max(axis=1)
    top = float(np.percentile(best, TOP_QUANTILE))
    if top <= 0:
        return 0.0, 0.0
    reference = float(np.median(best[best >= READER_SHARE * top]))
    return reference, share * reference


def value_head(value_ids: dict[str, list[int]], cutoff: float, n_vocab: int,
               discovered: HeadWeights | None = None, prior: np.ndarray | None = None) -> HeadWeights:
    """The rule of `sort_into_values` as the head's network: outputs the values, then `other` (or the clusters
    discovered among the `other` photos, read by `discovered`, whose logits ride on the cutoff).

    Hidden units: one per value (its mass: first-layer weights 1 on its pieces), then `discovered`'s own.
    A value's logit is SCALE x (its mass less its prior), `other`'s SCALE x cutoff; the argmax is the rule's choice.
    """
    tokens, membership = keyword_columns(value_ids)
    n_values = len(value_ids)
    prior = np.zeros(n_values, np.float32) if prior is None else np.asarray(prior, np.float32)
    if discovered is None:
        active = tokens
        w1 = membership
        b1 = np.zeros(n_values, np.float32)
        w2 = np.hstack([np.eye(n_values, dtype=np.float32) * SCALE, np.zeros((n_values, 1), np.float32)])
        b2 = np.append(-SCALE * prior, SCALE * cutoff).astype(np.float32)
        return HeadWeights(active, w1, b1, w2, b2, n_vocab, has_confidence=False)
    if discovered.log_floor is not None:
        raise MethodInputError("a discovered clustering's head must read lens probabilities")
    active = np.union1d(tokens, discovered.active).astype(np.int64)
    hidden = discovered.w1.shape[1]
    w1 = np.zeros((len(active), n_values + hidden), np.float32)
    w1[np.searchsorted(active, tokens), :n_values] = membership
    w1[np.searchsorted(active, discovered.active), n_values:] = discovered.w1
    b1 = np.concatenate([np.zeros(n_values, np.float32), discovered.b1]).astype(np.float32)
    k = discovered.w2.shape[1]
    w2 = np.zeros((n_values + hidden, n_values + k), np.float32)
    w2[:n_values, :n_values] = np.eye(n_values) * SCALE
    w2[n_values:, n_values:] = discovered.w2
    b2 = np.concatenate([-SCALE * prior, SCALE * cutoff + discovered.b2]).astype(np.float32)
    return HeadWeights(active, w1, b1, w2, b2, n_vocab, has_confidence=False)


def merge_into_value(weights: HeadWeights, X, n_values: int, value: int, cluster: int) -> HeadWeights | None:
    """`value_head`'s network with output `cluster` (`other` or a discovered cluster) folded into output `value`.

    A value's logit is SCALE x its evidence e (mass less prior); `cluster`'s is l = SCALE x cutoff + d (d its
    discovered logit, a few units; 0 for `other`). The merged value's logit becomes SCALE x e + SCALE x
    relu(cutoff - e) + l - SCALE x cutoff = SCALE x max(e, cutoff) + d: one more hidden unit,
    relu(cutoff + prior - mass), and the two columns added. A photo that reads the value clearly (e above the
    cutoff) keeps SCALE x e + d, so the value's own words decide as before (d moves the border by well under a
    thousandth of mass, as discovered clusters already do); a photo that reads no value gets SCALE x cutoff +
    d, exactly the logit it had for `cluster`. So `cluster`'s photos, and every new photo read like them, go
    to the value; nothing else moves. `cluster`'s output is removed (outputs after it move up one).

    `n_values`: how many named values the sort made the head with (their mass units come first, in order);
    the priors and the cutoff are found again from the sample's vectors `X` as `sort_into_values` found them.
    None where the head cannot take the merge exactly: it was learnt from corrections (no mass units),
    `value` is not read by its words, or something was merged into it already (the max of two clusters'
    logits is no single layer).
    """
    w2 = weights.w2
    if weights.log_floor is not None or not (0 <= value < w2.shape[1] and 0 <= cluster < w2.shape[1]):
        return None
    units = np.flatnonzero(w2[:n_values, value] == SCALE)
    if len(units) != 1 or np.count_nonzero(w2[:, value]) != 1:
        return None
    unit = int(units[0])
    X = sparse.csr_matrix(X)
    mass = np.asarray(X[:, weights.active].todense(), np.float32) @ weights.w1[:, :n_values]
    if mass.max() <= READ:  # as sort_into_values: no prior, no cutoff, every photo to its most probable value
        prior, cutoff = np.zeros(n_values, np.float32), 0.0
    else:
        prior = value_prior(mass)
        cutoff = value_cutoff(mass - prior)[1]
    w1 = np.hstack([weights.w1, -weights.w1[:, unit:unit + 1]])
    b1 = np.append(weights.b1, cutoff + prior[unit]).astype(np.float32)
    merged = np.vstack([w2, np.zeros((1, w2.shape[1]), np.float32)])
    merged[:, value] += merged[:, cluster]
    merged[-1, value] = SCALE
    b2 = weights.b2.copy()
    b2[value] += b2[cluster] - SCALE * cutoff
    keep = np.delete(np.arange(w2.shape[1]), cluster)
    return HeadWeights(weights.active, w1.astype(np.float32), b1, merged[:, keep].astype(np.float32), b2[keep],
                       weights.n_vocab, has_confidence=weights.has_confidence)


def too_few_values(criterion: str, readings: list[str]) -> str | None:
    """What is said when fewer than MIN_KEYWORDS values can be told apart to localize with, else None."""
    if len(readings) >= MIN_KEYWORDS:
        return None
    return (f"{criterion!r}: fewer than {MIN_KEYWORDS} of its values can be told apart by the model to find where it "
            f"reads the criterion, so {FALLBACK.split(' and ')[0]}; name more values, or words the model writes whole")


def value_notes(review) -> list[str]:
    """Sentences for the user on values the model cannot tell apart (method.keywords.KeywordReview)."""
    out = []
    for words, pieces in review.shared:
        listed = " and ".join(repr(w) for w in words)
        out.append(f"values {listed} start with the same piece ({', '.join(repr(p) for p in pieces)}) for the "
                   f"model, so it cannot tell them apart: which of them a photo goes to says little; name each with "
                   f"a longer or different word")
    shared = {w for words, _ in review.shared for w in words}
    for word, pieces in review.generic.items():
        if word in shared:  # said once, above
            continue
        out.append(f"value {word!r} is read only through {', '.join(repr(p) for p in pieces)}, a piece that starts "
                   f"many words: photos of other things starting so may go to it; name it with a word the model "
                   f"writes whole (e.g. a more common synonym)")
    return out
