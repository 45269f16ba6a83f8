"""A logit-lens simulator of LLaVA-1.5-7b at a criterion prompt, on LLaMA's real vocabulary.

What a real LLaMA-family lens shows (tuned-lens and logit-lens studies, ESMC's Figure 3), drawn for
32 blocks at every token of the llava-v1 suffix "\\nThe color of the car is ASSISTANT:" as LLaMA
tokenizes it:
- early blocks read the token itself (the lens of block 0-7 mostly reproduces its input piece);
- middle blocks read scattered, low-probability pieces;
- from about 80% of the depth the photo's answer appears at the criterion noun and stays to the
  last block; the answer slot (the prompt's last token, " is", whose next word is the answer) reads it
  from a little later.
Keywords are read through the pieces `keyword_token_ids` gives on the real vocabulary, and
`review_keywords` merges and marks them as the product does. Each scenario adds one kind of
trouble a real lens has and knows, in hindsight, its best place: the (block, token) whose vectors
k-means clusters closest to the photos' classes (NMI over all photos of the world).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from esmc_desktop.method.keywords import keyword_token_ids, review_keywords
from esmc_desktop.method.localization import keyword_columns, localize, sample_photos
from esmc_desktop.mllm.prompts import LLAVA_V1, prompt_positions

N_LAYERS = 32
TOP_K = 50
ANSWER_FROM = 25  # ~80% of the depth: where ESMC's Figure 3 shows the answer settle at the criterion noun
N_PHOTOS = 120
N_SAMPLES = 20

SCENARIOS = {
    # name: (criterion, keywords the model names, how many of them are the photos' classes)
    "clean": ("color of the car", "red, blue, white, black, silver, green", 4),
    "answer-slot prior": ("make of the car", "Toyota, Ford, Chevrolet, Porsche, Volvo, Ferrari", 4),
    "early merge": ("species of the flower", "rose, tulip, sunflower, orchid, lavender, marigold", 4),
    "mid-depth junk": ("type of the fruit", "apple, banana, orange, cherry, grape, lemon", 4),
    "soft noun, sharp biased slot": ("color of the car", "red, blue, white, black, silver, green", 4),
    "synonyms and casing": ("color of the car", "gray, grey, red, blue, white, black", 4),
    "prior and answer above threshold": ("type of the place", "beach, mountains, city, forest, desert", 4),
}


@dataclass
class World:
    """One scenario drawn: every photo's lens at every (block, suffix token), over a compact token set."""

    name: str
    pieces: list[str]  # the suffix's tokens as text
    span: list[int]  # the criterion prompt's own positions
    keywords: list[str]
    keyword_ids: dict[str, list[int]]  # per keyword, as the product reads it
    localization_ids: dict[str, list[int]]  # after review_keywords (what localization counts)
    tokens: np.ndarray  # (n_tokens,) vocabulary ids of the compact token set
    lens: np.ndarray  # (photos, layers, positions, n_tokens) probabilities (top-50, renormalized)
    labels: np.ndarray
    noun: int  # the criterion noun's position

    def keyword_probs(self, photos: np.ndarray, ids: dict[str, list[int]]) -> np.ndarray:
        """(photos, layers, positions, keywords) as the pipeline computes them from the lens."""
        token_ids, membership = keyword_columns(ids)
        column = {int(t): i for i, t in enumerate(self.tokens)}
        cols = np.array([column[int(t)] for t in token_ids])
        return self.lens[photos][..., cols] @ membership

    def nmi_at(self, layer: int, position: int) -> float:
        X = self.lens[:, layer, position, :]
        k = len(set(self.labels.tolist()))
        found = KMeans(k, n_init=3, random_state=0).fit_predict(X)
        return float(normalized_mutual_info_score(self.labels, found))

    def best(self) -> tuple[float, tuple[int, int]]:
        """The best place in hindsight: the highest NMI of k-means at any (block, token)."""
        scores = {(layer, pos): self.nmi_at(layer, pos) for layer in range(N_LAYERS)
                  for pos in range(len(self.pieces))}
        place = max(scores, key=lambda p: (round(scores[p], 3), -p[0]))
        return scores[place], place


def draw(name: str, vocab, seed: int = 0, n_photos: int = N_PHOTOS) -> World:
    """Scenario `name` drawn for n photos on the given vocabulary (an mllm.vocabulary.Vocabulary)."""
    criterion, answer, n_classes = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    prompt = f"The {criterion} is"
    suffix = vocab.tokenize(LLAVA_V1.suffix(prompt))
    pieces = [vocab.token_text(t) for t in suffix]
    span = prompt_positions(pieces, prompt)
    noun = max(p for p in span if pieces[p].strip() == criterion.split()[-1])
    slot = span[-1]  # " is": where the next word is the answer, the prompt's own answer slot
    keywords = [w.strip() for w in answer.split(",")]
    ids = keyword_token_ids(keywords, vocab.tokenize, vocab.token_text)
    review = review_keywords(ids, vocab.token_text)
    written = [ids[w][0] for w in keywords]  # the piece each keyword's answer puts its mass on
    junk_pool = rng.choice(np.arange(300, vocab.n_vocab), size=120, replace=False)
    tokens = np.array(sorted(set(junk_pool.tolist()) | {t for v in ids.values() for t in v} | set(suffix)))
    column = {int(t): i for i, t in enumerate(tokens)}
    labels = rng.integers(0, n_classes, n_photos)
    n_pos = len(pieces)
    signal = np.zeros((n_photos, N_LAYERS, n_pos, len(tokens)), np.float32)

    def put(layers, position, token_of_photo: Callable[[np.ndarray], np.ndarray], p_low: float, p_high: float,
            photos: np.ndarray | None = None) -> None:
        """Each photo (or the given ones) puts p ~ U(p_low, p_high) on its token, at each layer drawn anew."""
        who = np.arange(n_photos) if photos is None else photos
        for layer in layers:
            toks = token_of_photo(who)
            cols = np.array([column[int(t)] for t in np.broadcast_to(toks, who.shape)])
            signal[who, layer, position, cols] += rng.uniform(p_low, p_high, len(who)).astype(np.float32)

    answer_of = lambda who: np.array(written)[labels[who]]  # noqa: E731 - the photo's own answer piece
    # Every scenario: early blocks read their own piece, deep blocks the answer at the noun and, later, the slot
    for pos in range(n_pos):
        put(range(0, 8), pos, lambda who: np.full(len(who), suffix[pos]), 0.3, 0.7)
    if name != "soft noun, sharp biased slot" and name != "prior and answer above threshold":
        put(range(ANSWER_FROM, N_LAYERS), noun, answer_of, 0.3, 0.7)
    if name not in ("answer-slot prior", "soft noun, sharp biased slot", "synonyms and casing"):
        put(range(28, N_LAYERS), slot, answer_of, 0.2, 0.5)

    if name == "answer-slot prior":  # the model's favourite make, whatever the photo, from the middle on
        put(range(16, N_LAYERS), slot, lambda who: np.full(len(who), written[0]), 0.5, 0.8)
    elif name == "early merge":  # an early, sure reading that takes class 0 for class 1; the right one softer
        signal[:, ANSWER_FROM:, noun, :] = 0
        put(range(ANSWER_FROM, N_LAYERS), noun, answer_of, 0.25, 0.5)
        put(range(9, 15), noun, lambda who: np.array(written)[np.maximum(labels[who], 1)], 0.6, 0.85)
    elif name == "mid-depth junk":  # each photo's top reading a random keyword piece, drawn anew per block
        pool = np.array([t for v in ids.values() for t in v])
        for pos in span + [slot]:
            put(range(10, 23), pos, lambda who: rng.choice(pool, len(who)), 0.3, 0.7)
    elif name == "soft noun, sharp biased slot":  # right but soft at the noun; the slot sure, but mostly prior
        put(range(ANSWER_FROM, N_LAYERS), noun, answer_of, 0.22, 0.4)
        biased = rng.random(n_photos) < 0.4
        put(range(24, N_LAYERS), slot, lambda who: np.where(biased[who], written[0], answer_of(who)), 0.7, 0.9)
    elif name == "synonyms and casing":  # class 0 written 'gray' or 'grey', or capitalised, drawn anew per block
        grey = [ids["gray"][0], ids["grey"][0]] + [t for t in ids["gray"][1:] + ids["grey"][1:]]
        shifted = np.array(written)[labels + 1]  # classes 1..3 are red, blue, white; class 0 is gray/grey
        mixed = lambda who: np.where(labels[who] == 0, rng.choice(grey, len(who)), shifted[who])  # noqa: E731
        labels_words = np.where(labels == 0, ids["gray"][0], shifted)
        signal[:, ANSWER_FROM:, noun, :] = 0
        put(range(ANSWER_FROM, N_LAYERS), noun, lambda who: labels_words[who], 0.3, 0.7)
        put(range(24, N_LAYERS), slot, mixed, 0.6, 0.9)
    elif name == "prior and answer above threshold":  # both pass 0.2 at the noun; the answer is what differs
        put(range(ANSWER_FROM, N_LAYERS), noun, lambda who: np.full(len(who), written[-1]), 0.3, 0.4)
        put(range(ANSWER_FROM, N_LAYERS), noun, answer_of, 0.22, 0.32)
        put(range(24, N_LAYERS), slot, lambda who: np.full(len(who), written[-1]), 0.6, 0.8)

    lens = _with_junk(signal, rng, np.array([column[int(t)] for t in junk_pool]))
    return World(name, pieces, span, keywords, ids, review.localization, tokens, lens, labels, noun)


def _with_junk(signal: np.ndarray, rng, junk_cols: np.ndarray) -> np.ndarray:
    """Fill every distribution up to top-50 with Zipf-like junk pieces, renormalized to sum 1."""
    n, L, P, T = signal.shape
    lens = signal.copy()
    mass = np.clip(1.0 - signal.sum(axis=-1), 0.05, None)
    frequency = 1.0 / np.arange(1, len(junk_cols) + 1) ** 0.8
    keys = np.log(frequency) + rng.gumbel(size=(n, L, P, len(junk_cols)))
    chosen = np.argsort(-keys, axis=-1)[..., :TOP_K - 4]
    weights = rng.dirichlet(np.full(TOP_K - 4, 0.3), size=(n, L, P)).astype(np.float32)
    weights = np.minimum(weights, 0.15)
    weights *= (mass / weights.sum(axis=-1))[..., None]
    np.put_along_axis(lens, junk_cols[chosen], np.take_along_axis(lens, junk_cols[chosen], -1) + weights, -1)
    return lens / lens.sum(axis=-1, keepdims=True)


def choose(world: World, rule: str, seed: int, n_samples: int = N_SAMPLES) -> tuple[int, int]:
    """The place a rule chooses from n sample photos, searching where the product searches for it."""
    photos = sample_photos(len(world.labels), n_samples, seed)
    ids = world.localization_ids if rule != "paper" else {w: v[:1] for w, v in world.keyword_ids.items()}
    span = None if rule == "paper" else world.span
    found = localize(world.keyword_probs(photos, ids), rule=rule, span=span, keywords=list(ids),
                     tokens=world.pieces)
    return found.layer, found.position
