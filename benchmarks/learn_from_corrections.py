"""Does learning from a few corrections re-sort the rest better? NMI of the untouched photos.

Usage: python benchmarks/learn_from_corrections.py [--photos 400] [--places 1:7 2:7 3:8 3:9]
       [--criterion color] [--contrast 1.0] [--seeds 5] [--order random|least-certain]
       [--threads N] [--vectors FILE.npz] [--model NAME | --model LM --mmproj MMPROJ]

A held-out set of the demo world (seed 4242: neither the demo model's training photos nor its
other held-out sets), read by the model at weak places (layer:position of the prompt's text
tokens) where the first clustering is mediocre; `--contrast` below 1 also flattens the photos.
Per place: the first clustering (ESMC's head, K = the number of true values), then a simulated
user corrects, in each cluster, up to 1, 3 or 5 photos that are in the wrong cluster, putting
each where its true value's cluster is (clusters matched to values one to one, Hungarian).
Which wrong photos: drawn at random, one draw per seed (`--order random`, the default), or the
least certain first as the window lists them (`--order least-certain`, one draw). The labels are
used by that simulated user and by the scores, nowhere else.

Printed per place: the first clustering's NMI, the reading's ceiling (NMI of a logistic
regression on the log lens probabilities trained on the true labels, 5-fold: how much of the
criterion the reading carries at all; no clustering that sees only these vectors can be
expected above it), a control (the learning step's k-means on log features started from the
first clusters with no correction at all: how much of the gain the log scale alone gives),
then per number of corrections, mean ± sd over the seeds: NMI of the
photos the user did not touch without learning (the first clustering) and after learning, the
gain, how many untouched photos changed cluster, and how many corrected photos left the
user's cluster (must be 0); one row per re-sort choice: "doubtful" (the default: only photos the
corrections make doubtful move) and "all" (`learn --resort-all`, for a clustering found mostly
wrong). `--vectors` keeps the read lens vectors, so a rerun skips the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esmc_desktop.demo.world import CRITERIA, render, sample_specs  # noqa: E402
from esmc_desktop.method.head import ClusteringHead, log_features  # noqa: E402
from esmc_desktop.method.learn import (LOG_FLOOR, RESORT_CHOICES, constrained_kmeans,  # noqa: E402
                                       learn_from_corrections)
from esmc_desktop.method.metrics import scores  # noqa: E402
from esmc_desktop.method.validation import MethodInputError  # noqa: E402
from esmc_desktop.mllm.logit_lens import LensParams, LogitLens, SparseLens  # noqa: E402
from esmc_desktop.mllm.registry import ModelRegistry  # noqa: E402
from esmc_desktop.mllm.runtime import LlavaRuntime  # noqa: E402
from esmc_desktop.engine.types import Criterion  # noqa: E402

SEED = 4242


def photo(spec, contrast: float) -> np.ndarray:
    image = np.asarray(render(spec, 64), dtype=float)
    if contrast != 1.0:
        image = image.mean() + (image - image.mean()) * contrast
        image += np.random.default_rng(spec.seed).normal(0, 10, image.shape)
    return image.clip(0, 255).astype(np.uint8)


def read_places(lm: Path, mmproj: Path, prompt: str, places: list[tuple[int, int]], n: int,
                contrast: float, threads: int | None) -> tuple[dict[tuple[int, int], object], list]:
    """Lens vectors of every photo at each (layer, position) of the prompt's text tokens."""
    specs = sample_specs(n, seed=SEED)
    lens = LogitLens.from_gguf(lm, LensParams())
    rows: dict[tuple[int, int], list] = {p: [] for p in places}
    with LlavaRuntime(lm, mmproj, layers=sorted({layer for layer, _ in places}), n_threads=threads) as rt:
        for spec in specs:
            states = rt.run(photo(spec, contrast), [prompt]).prompts[0]
            for layer, position in places:
                out = lens.project(states.layer(layer)[position][None], layer)
                rows[(layer, position)].append((out.indices[0], out.values[0]))
        tokens = states.tokens
    vectors = {p: SparseLens(np.stack([i for i, _ in r]), np.stack([v for _, v in r]), lens.n_vocab).to_csr()
               for p, r in rows.items()}
    return vectors, specs, tokens


def save_vectors(path: Path, vectors: dict, truth: np.ndarray, tokens: list[str]) -> None:
    """The read lens vectors, true values and prompt tokens, so another run skips the model."""
    arrays = {"truth": truth, "tokens": np.array(tokens)}
    for (layer, position), X in vectors.items():
        for part in ("data", "indices", "indptr"):
            arrays[f"{layer}:{position}:{part}"] = getattr(X, part)
        arrays[f"{layer}:{position}:shape"] = np.array(X.shape)
    np.savez_compressed(path, **arrays)


def load_vectors(path: Path, places: list[tuple[int, int]]) -> tuple[dict, np.ndarray, list[str]]:
    saved = np.load(path)
    vectors = {}
    for layer, position in places:
        part = lambda name: saved[f"{layer}:{position}:{name}"]  # noqa: E731
        vectors[(layer, position)] = sparse.csr_matrix((part("data"), part("indices"), part("indptr")),
                                                       shape=tuple(part("shape")))
    return vectors, saved["truth"], [str(t) for t in saved["tokens"]]


def simulated_user(truth: np.ndarray, labels: np.ndarray, order: np.ndarray, per_cluster: int,
                   k: int) -> dict[int, int]:
    """Per cluster, the first `per_cluster` of its wrong photos in `order`, moved where they belong."""
    table = np.zeros((k, k))
    np.add.at(table, (labels, truth), 1)
    clusters, values = linear_sum_assignment(-table)
    cluster_of = dict(zip(values, clusters))
    rank = np.argsort(order, kind="stable")
    corrections = {}
    for cluster in range(k):
        wrong = [int(i) for i in rank if labels[i] == cluster and cluster_of[truth[i]] != cluster]
        corrections.update({i: int(cluster_of[truth[i]]) for i in wrong[:per_cluster]})
    return corrections


def ceiling(X, truth: np.ndarray) -> float:
    """NMI of a classifier trained on the true labels (5-fold): what the reading carries of the criterion."""
    Z = np.log(X.toarray().astype(np.float64) + 1e-6)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return scores(truth, cross_val_predict(model, Z, truth, cv=5))["nmi"]


def mean_sd(values: list[float], digits: int = 3) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--places", nargs="+", default=["1:7", "2:7", "3:8", "3:9"],
                        help="layer:position (position counted over the prompt's text tokens)")
    parser.add_argument("--criterion", default="color", choices=sorted(set(CRITERIA.values())))
    parser.add_argument("--contrast", type=float, default=1.0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--mmproj", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp CPU threads (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="draws of which wrong photos the user corrects")
    parser.add_argument("--order", choices=["random", "least-certain"], default="random")
    parser.add_argument("--vectors", type=Path, default=None,
                        help="an .npz of the lens vectors: read from it when it exists, else written to it")
    args = parser.parse_args()
    if args.mmproj is not None:
        lm, mmproj = Path(args.model), args.mmproj
    else:
        entry = ModelRegistry().get(args.model)
        lm, mmproj = entry.lm, entry.mmproj
    text = next(t for t, a in CRITERIA.items() if a == args.criterion)
    places = [tuple(int(x) for x in p.split(":")) for p in args.places]
    started = time.perf_counter()
    if args.vectors is not None and args.vectors.is_file():
        vectors, truth, tokens = load_vectors(args.vectors, places)
        print(f"lens vectors of {len(truth)} photos read from {args.vectors}")
    else:
        vectors, specs, tokens = read_places(lm, mmproj, Criterion(text).prompt, places, args.photos,
                                             args.contrast, args.threads)
        print(f"{args.photos} photos (seed {SEED}, contrast {args.contrast}), '{text}', read in "
              f"{time.perf_counter() - started:.0f} s; model {lm.name}")
        values = sorted({s.label(args.criterion) for s in specs})
        truth = np.array([values.index(s.label(args.criterion)) for s in specs])
        if args.vectors is not None:
            save_vectors(args.vectors, vectors, truth, tokens)
    k = int(truth.max()) + 1
    print(f"simulated user: wrong photos {args.order}" + (f", {args.seeds} seeds" if args.order == "random" else ""))
    print("| place (token) | first NMI | ceiling | log scale alone | corrections/cluster | re-sort | photos corrected "
          "| untouched NMI, no learning | untouched NMI, learning | gain | untouched changed | corrected moved back "
          "| learn s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for place in places:
        X = vectors[place]
        head = ClusteringHead(k, seed=0).fit(X)
        first = scores(truth, head.labels_)["nmi"]
        sure = head.weights_.predict_proba(X)[np.arange(len(truth)), head.labels_]  # as the manifest holds it
        name = f"{place[0]}:{place[1]} ({tokens[place[1]]!r})"
        alone = constrained_kmeans(log_features(X, LOG_FLOOR), head.labels_, np.ones(len(truth), bool),
                                   np.ones(len(truth)))[0]
        print(f"| {name} | {first:.3f} | {ceiling(X, truth):.3f} | {scores(truth, alone)['nmi']:.3f} | 0 | | 0 "
              f"| {first:.3f} | (no learning) | | | | |")
        if args.order == "random":
            orders = [np.random.default_rng(seed).permutation(len(truth)) for seed in range(args.seeds)]
        else:
            orders = [head.weights_.margins(X)]
        for per_cluster, resort in ((p, r) for p in (1, 3, 5) for r in RESORT_CHOICES):
            row: dict[str, list[float]] = {"n": [], "before": [], "after": [], "gain": [], "changed": [], "s": []}
            back, refused = 0, []
            for order in orders:
                corrections = simulated_user(truth, head.labels_, order, per_cluster, k)
                untouched = np.ones(len(truth), bool)
                untouched[list(corrections)] = False
                t0 = time.perf_counter()
                try:
                    learnt = learn_from_corrections(X, head.labels_, corrections, confidences=sure, resort=resort)
                except MethodInputError as exc:
                    refused.append(str(exc))
                    continue
                row["s"].append(time.perf_counter() - t0)
                new_id = {old: new for new, old in enumerate(learnt.kept)}
                back += sum(learnt.labels[i] != new_id[c] for i, c in corrections.items())
                row["n"].append(len(corrections))
                row["before"].append(scores(truth[untouched], head.labels_[untouched])["nmi"])
                row["after"].append(scores(truth[untouched], learnt.labels[untouched])["nmi"])
                row["gain"].append(row["after"][-1] - row["before"][-1])
                row["changed"].append(len(learnt.changed))
            if not row["n"]:
                print(f"| {name} | | | | {per_cluster} | {resort} | refused: {refused[0]} |")
                continue
            note = f" ({len(refused)} of {len(orders)} refused)" if refused else ""
            print(f"| {name} | | | | {per_cluster}{note} | {resort} | {mean_sd(row['n'], 1)} | "
                  f"{mean_sd(row['before'])} | {mean_sd(row['after'])} | "
                  f"{np.mean(row['gain']):+.3f} ± {np.std(row['gain']):.3f} | "
                  f"{mean_sd(row['changed'], 1)} | {back} | {np.mean(row['s']):.1f} |")


if __name__ == "__main__":
    main()
