"""Lens readings like LLaVA-1.5-7b's at a criterion's place, for sorting into named values (method/values.py).

The demo model puts about 0.99 of its lens on the answer's one piece. A real 7B's logit lens at the
criterion (block ~26 of 32, top 50 renormalized; ESMC's Figure 3, tuned-lens studies) spreads it; each
photo's reading here is drawn on LLaMA's real vocabulary from what spreads it:
- the answer takes a mass A (a level of 0.2-0.6, each photo within +-25% of it), shared (Dirichlet) among the
  ways the model writes the photo's value: the word as written, capitalised, singular/plural, synonyms
  (" shore", " coast", " sand" for beach), the first piece of a synonym LLaMA splits (" se"-aside,
  " dow"-ntown), and an upper-case first piece (" BE"-ACH); the product reads only the first pieces of the
  word's own forms (`keyword_token_ids`), so part of A is out of its sight, as it is on the real model;
- a look-alike value takes a share of A beside the answer (a desert photo gives " beach" some, an orange
  one " red");
- the answer's lead-ins " the" and " a" (the model continuing "is the beach") take 0.05-0.3;
- the language prior: one value the model favours whatever the photo shows gets 0-0.12 on every photo;
- the rest of the top 50 is Zipf-like junk from the whole vocabulary, and the 50 are renormalized.
A value left out of the named ones is read like any other: its photos put their answer on its own word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from esmc_desktop.method.keywords import keyword_token_ids
from esmc_desktop.method.values import OTHER, sort_into_values

TOP_K = 50

# value -> (the other ways the model writes it, its look-alike value); the first value is the prior's favourite
WORLDS = {
    "place": {
        "city": (["urban", "downtown", "town", "street"], "mountains"),
        "beach": (["shore", "coast", "sand", "ocean", "seaside", "BEACH"], "desert"),
        "mountains": (["hills", "mountainous", "peaks", "alpine"], "forest"),
        "forest": (["woods", "jungle", "trees", "woodland"], "mountains"),
        "desert": (["dunes", "sahara", "sand", "arid"], "beach"),
    },
    "colour": {
        "white": (["ivory", "cream", "WHITE"], "yellow"),
        "red": (["crimson", "scarlet", "maroon", "RED"], "orange"),
        "orange": (["amber", "tangerine", "copper", "ORANGE"], "red"),
        "blue": (["navy", "azure", "teal", "BLUE"], "purple"),
        "green": (["lime", "olive", "emerald", "GREEN"], "yellow"),
        "yellow": (["golden", "gold", "lemon", "YELLOW"], "orange"),
        "purple": (["violet", "lavender", "magenta", "PURPLE"], "blue"),
    },
}
LEVELS = (0.2, 0.3, 0.4, 0.6)


@dataclass(frozen=True)
class Drawn:
    """Photos' lens vectors at the place (n_photos x n_vocab, top-50) and each photo's true value."""

    X: sparse.csr_matrix
    values: list[str]
    labels: np.ndarray  # index into values


def first_piece(vocab, word: str) -> int:
    tokens = vocab.tokenize(f"is {word}")[len(vocab.tokenize("is")):]
    return tokens[0]


def draw(world: str, vocab, level: float, seed: int, n_photos: int = 300) -> Drawn:
    """n photos of the world's values (equally likely), each photo's answer mass about `level`."""
    rng = np.random.default_rng(seed)
    table = WORLDS[world]
    values = list(table)
    labels = rng.integers(0, len(values), n_photos)
    own = keyword_token_ids(values, vocab.tokenize, vocab.token_text)  # the forms the product reads
    ways = {v: list(dict.fromkeys(own[v] + [first_piece(vocab, w) for w in table[v][0]])) for v in values}
    written = {v: own[v][0] for v in values}
    lead_ins = [first_piece(vocab, "the"), first_piece(vocab, "a")]
    taken = {t for w in ways.values() for t in w} | set(lead_ins)
    pool = np.array([t for t in rng.choice(np.arange(300, vocab.n_vocab), 600, replace=False) if t not in taken])
    zipf = 1.0 / np.arange(1, len(pool) + 1) ** 0.8
    rows, cols, data = [], [], []
    for i, label in enumerate(labels):
        value = values[label]
        reading: dict[int, float] = {}

        def put(token: int, p: float) -> None:
            reading[int(token)] = reading.get(int(token), 0.0) + float(p)

        answer = rng.uniform(0.75, 1.25) * level
        share = rng.dirichlet(np.r_[3.0, np.full(len(ways[value]) - 1, 0.6)])  # the written word leads
        for token, p in zip(ways[value], answer * share):
            put(token, p)
        put(written[table[value][1]], answer * rng.uniform(0.0, 0.3))  # the look-alike beside it
        for token in lead_ins:
            put(token, rng.uniform(0.02, 0.15))
        put(written[values[0]], rng.uniform(0.0, 0.12))  # the prior's favourite, whatever the photo shows
        junk = pool[np.argsort(-(np.log(zipf) + rng.gumbel(size=len(pool))))[:TOP_K - len(reading)]]
        weights = np.minimum(rng.dirichlet(np.full(len(junk), 0.3)), 0.1)
        rest = max(1.0 - sum(reading.values()), 0.05)
        for token, p in zip(junk, weights * rest / weights.sum()):
            put(token, p)
        tokens = np.array(sorted(reading))
        probs = np.array([reading[t] for t in tokens])
        rows += [i] * len(tokens)
        cols += tokens.tolist()
        data += (probs / probs.sum()).tolist()
    X = sparse.csr_matrix((np.array(data, np.float32), (rows, cols)), shape=(n_photos, vocab.n_vocab))
    return Drawn(X, values, labels)


@dataclass(frozen=True)
class Figures:
    left_out_to_other: float  # share of the left-out values' photos sorted to `other`
    named_to_other: float  # share of the named values' photos sorted to `other`
    named_right: float  # share of the named values' photos sorted to their own value


def leave_out(drawn: Drawn, vocab, *left_out: str) -> Figures:
    """Sort with every value named but those `left_out`, as the product does, and score it against the truth."""
    named = [v for v in drawn.values if v not in left_out]
    ids = keyword_token_ids(named, vocab.tokenize, vocab.token_text)
    found = sort_into_values(drawn.X, {v: ids[v] for v in named})
    sorted_as = np.array([named[k] if k < len(named) else OTHER for k in found.labels])
    truth = np.array(drawn.values)[drawn.labels]
    out = np.isin(truth, left_out)
    kept = ~out
    return Figures(float(np.mean(sorted_as[out] == OTHER)), float(np.mean(sorted_as[kept] == OTHER)),
                   float(np.mean(sorted_as[kept] == truth[kept])))
