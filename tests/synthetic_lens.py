"""Synthetic photos-as-lens-vectors with two planted criteria, for testing the method alone.

Every photo has a colour (4 values) and a shape (3 values). Lens noise tokens come
from a shared pool with Zipf-like frequencies, as real lens distributions share
frequent tokens. For each criterion
there is a full (layer x position) grid of top-50 lens distributions; from the
planted pair to the last layer the criterion's token carries most of the mass, the other
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
PRIOR_TOKEN = 500  # make_unsure_photos: a token every unsure photo shares
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
                if distance == 0 or (pos == pp and layer > pl):  # the reading settles and stays, as an LLM's
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


# --- A lens that behaves like the paper's Figure 3 on a real LLaVA-1.5-7b --------------------------------------
#
# The suffix after the image in the llava-v1 template, as Llama's tokenizer splits it. The criterion's own tokens
# are positions 2..7; the image's answer appears at the criterion noun (" color") from about 80% of the depth,
# in the word's sub-word, case and synonym forms; the last prompt token (" is") shows it only in the last layers;
# the answer slot (":") holds an image-independent prior (" white", the commonest car colour) from 60% of the
# depth; " car" holds a weaker image-independent association (" red") from 70%.

FIG3_LAYERS = 32
FIG3_SUFFIX = ["▁", "\n", "The", " color", " of", " the", " car", " is", " A", "SS", "IST", "ANT", ":"]
FIG3_PROMPT = "The color of the car is"
FIG3_NOUN, FIG3_IS, FIG3_CAR, FIG3_ANSWER = 3, 7, 6, 12
FIG3_FIRST_LAYER = int(0.8 * FIG3_LAYERS)  # 25: keyword mass starts to show at the noun
FIG3_ANSWER_ANSWER = "Sure! Here are some common colors of cars:\n\n1. White\n2. Black\n3. Silver\n4. Gray\n5. Red\n" \
                     "6. Blue\n7. Burgundy\n\nThese are the most popular ones."
# how the lens spells each colour: (token text, share of the colour's mass); synonyms are not keywords
FIG3_FORMS = {
    "white": [(" white", 0.55), (" White", 0.25), (" ivory", 0.2)],
    "black": [(" black", 0.6), (" Black", 0.3), (" dark", 0.1)],
    "silver": [(" silver", 0.5), (" Silver", 0.3), (" metallic", 0.2)],
    "gray": [(" gray", 0.4), (" grey", 0.35), (" Gray", 0.25)],
    "red": [(" red", 0.6), (" Red", 0.2), (" crimson", 0.2)],
    "blue": [(" blue", 0.55), (" Blue", 0.3), (" navy", 0.15)],
    "burgundy": [(" bur", 0.5), (" Bur", 0.3), (" maroon", 0.2)],  # sub-word: " burgundy" is " bur" + "gundy"
}
FIG3_COLORS = list(FIG3_FORMS)
FIG3_VOCAB = sorted({t for forms in FIG3_FORMS.values() for t, _ in forms} | set(FIG3_SUFFIX)
                    | {"gundy", "is", " Grey"})
FIG3_ID = {t: 500 + i for i, t in enumerate(FIG3_VOCAB)}
FIG3_TEXT = {i: t for t, i in FIG3_ID.items()}


def fig3_tokenize(text: str) -> list[int]:
    """Greedy longest match over the synthetic vocabulary (BPE-like: a leading space belongs to the word)."""
    ids, i = [], 0
    while i < len(text):
        match = max((t for t in FIG3_VOCAB if text.startswith(t, i)), key=len, default=None)
        if match is None:
            ids.append(2000 + ord(text[i]))
            i += 1
        else:
            ids.append(FIG3_ID[match])
            i += len(match)
    return ids


def fig3_token_text(token: int) -> str:
    return FIG3_TEXT.get(token, f"<{token}>")


@dataclass
class Figure3Photos:
    colors: np.ndarray  # each photo's colour index into FIG3_COLORS
    seed: int

    def _spread(self, rng, colour: str, p: float) -> list[tuple[int, float]]:
        return [(FIG3_ID[t], p * share) for t, share in FIG3_FORMS[colour]]

    def lens(self, i: int) -> SparseLens:
        """Photo i's top-50 lens at every (layer, suffix position), rows in layer-major order."""
        rng = np.random.default_rng((self.seed, i, 3))
        colour = FIG3_COLORS[int(self.colors[i])]
        neighbour = FIG3_COLORS[(int(self.colors[i]) + 1) % len(FIG3_COLORS)]
        n_pos = len(FIG3_SUFFIX)
        idx = np.empty((FIG3_LAYERS * n_pos, TOP_K), np.int64)
        val = np.empty((FIG3_LAYERS * n_pos, TOP_K), np.float32)
        for layer in range(FIG3_LAYERS):
            for pos in range(n_pos):
                planted: list[tuple[int, float]] = []
                if pos == FIG3_NOUN and layer >= FIG3_FIRST_LAYER:
                    p = {0: rng.uniform(0.05, 0.25), 1: rng.uniform(0.15, 0.45)}.get(
                        layer - FIG3_FIRST_LAYER, rng.uniform(0.5, 0.85) if layer < FIG3_LAYERS - 1 else
                        rng.uniform(0.35, 0.6))
                    planted = self._spread(rng, colour, p) + self._spread(rng, neighbour, 0.04)
                elif pos == FIG3_IS and layer >= FIG3_LAYERS - 2:
                    planted = self._spread(rng, colour, rng.uniform(0.4, 0.6))
                elif pos == FIG3_ANSWER and layer >= int(0.6 * FIG3_LAYERS):
                    planted = self._spread(rng, "white", rng.uniform(0.6, 0.75))
                elif pos == FIG3_CAR and layer >= int(0.7 * FIG3_LAYERS):
                    planted = self._spread(rng, "red", rng.uniform(0.3, 0.4))
                elif rng.random() < 0.2:  # keywords turn up weakly anywhere, as real lens distributions do
                    planted = self._spread(rng, FIG3_COLORS[rng.integers(len(FIG3_COLORS))], rng.uniform(0.01, 0.1))
                row = layer * n_pos + pos
                idx[row], val[row] = _top_k(rng, planted)
        return SparseLens(idx, val, N_VOCAB)


def _top_k(rng, planted: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """A top-k row: the planted (token, probability) pairs and Zipf-like noise tokens sharing the rest."""
    noise = rng.choice(NOISE_POOL, size=TOP_K - len(planted), replace=False, p=NOISE_P)
    rest = 1.0 - sum(p for _, p in planted)
    weights = rng.dirichlet(np.full(len(noise), 0.3))
    weights = np.minimum(weights, 0.12)
    weights *= rest / weights.sum()
    idx = np.concatenate([[t for t, _ in planted], noise]).astype(np.int64)
    val = np.concatenate([[p for _, p in planted], weights]).astype(np.float32)
    order = np.argsort(-val, kind="stable")
    return idx[order], val[order]


def make_figure3_photos(n: int, seed: int = 0) -> Figure3Photos:
    rng = np.random.default_rng(seed)
    return Figure3Photos(rng.integers(0, len(FIG3_COLORS), n), seed)



def make_unsure_photos(n: int, seed: int = 0, unsure: float = 0.35) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Colour lens vectors (4 values) where a fraction of photos is read unsure, as a weak place reads them.

    A sure photo's colour token carries 0.5-0.8; an unsure one's only 0.01-0.05, beside a token
    every unsure photo shares (a prior, 0.5-0.8), so a distance between probability vectors puts all
    unsure photos together whatever their colour. Returns (vectors, colours, unsure mask).
    """
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, N_VALUES["color"], n)
    quiet = rng.random(n) < unsure
    rows_i, rows_v = [], []
    for i in range(n):
        colour_p, prior_p = (rng.uniform(0.01, 0.05), rng.uniform(0.5, 0.8)) if quiet[i] else \
            (rng.uniform(0.5, 0.8), rng.uniform(0.0, 0.05))
        noise = rng.choice(NOISE_POOL, size=TOP_K - 2, replace=False, p=NOISE_P)
        rest = rng.dirichlet(np.full(TOP_K - 2, 0.3)) * (1 - colour_p - prior_p)
        rows_i.append(np.r_[TOKEN_OF[COLOR_WORDS[colours[i]]], PRIOR_TOKEN, noise])
        rows_v.append(np.r_[colour_p, prior_p, rest])
    return SparseLens(np.array(rows_i), np.array(rows_v), N_VOCAB).to_csr(), colours, quiet
