"""Does learning from a few corrections re-sort the rest better? NMI of the untouched photos.

Usage: python benchmarks/learn_from_corrections.py [--photos 500] [--places 3:4 2:3 1:3]
       [--criterion color] [--contrast 1.0] [--model NAME | --model LM --mmproj MMPROJ]

A held-out set of the demo world (seed 4242: neither the demo model's training photos nor its
other held-out sets), read by the model at weak places (layer:position of the prompt's text
tokens) where the first clustering is mediocre; `--contrast` below 1 also flattens the photos.
Per place: the first clustering (ESMC's head, K = the number of true values), then a simulated
user corrects, in each cluster, its least certain photos (smallest margin) that are in the
wrong cluster, up to 1, 3 or 5 per cluster, putting each where its true value's cluster is
(clusters matched to values one to one, Hungarian). The labels are used by that simulated
user and by the scores, nowhere else. Printed: NMI of the photos the user did not touch
without learning (the first clustering) and after learning, how many untouched photos changed
cluster, whether a corrected photo ever left the user's cluster, and the time to learn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esmc_desktop.demo.world import CRITERIA, render, sample_specs  # noqa: E402
from esmc_desktop.method.head import ClusteringHead  # noqa: E402
from esmc_desktop.method.learn import learn_from_corrections  # noqa: E402
from esmc_desktop.method.metrics import scores  # noqa: E402
from esmc_desktop.method.validation import MethodInputError  # noqa: E402
from esmc_desktop.mllm.logit_lens import LensParams, LogitLens, SparseLens  # noqa: E402
from esmc_desktop.mllm.registry import ModelRegistry  # noqa: E402
from esmc_desktop.mllm.runtime import LlavaRuntime  # noqa: E402
from esmc_desktop.pipeline import Criterion  # noqa: E402

SEED = 4242


def photo(spec, contrast: float) -> np.ndarray:
    image = np.asarray(render(spec, 64), dtype=float)
    if contrast != 1.0:
        image = image.mean() + (image - image.mean()) * contrast
        image += np.random.default_rng(spec.seed).normal(0, 10, image.shape)
    return image.clip(0, 255).astype(np.uint8)


def read_places(lm: Path, mmproj: Path, prompt: str, places: list[tuple[int, int]], n: int,
                contrast: float) -> tuple[dict[tuple[int, int], object], list]:
    """Lens vectors of every photo at each (layer, position) of the prompt's text tokens."""
    specs = sample_specs(n, seed=SEED)
    lens = LogitLens.from_gguf(lm, LensParams())
    rows: dict[tuple[int, int], list] = {p: [] for p in places}
    with LlavaRuntime(lm, mmproj, layers=sorted({layer for layer, _ in places})) as rt:
        for spec in specs:
            states = rt.run(photo(spec, contrast), [prompt]).prompts[0]
            for layer, position in places:
                out = lens.project(states.layer(layer)[position][None])
                rows[(layer, position)].append((out.indices[0], out.values[0]))
        tokens = states.tokens
    vectors = {p: SparseLens(np.stack([i for i, _ in r]), np.stack([v for _, v in r]), lens.n_vocab).to_csr()
               for p, r in rows.items()}
    return vectors, specs, tokens


def simulated_user(truth: np.ndarray, labels: np.ndarray, margins: np.ndarray, per_cluster: int,
                   k: int) -> dict[int, int]:
    """Per cluster, its least certain photos that are in the wrong cluster, moved where they belong."""
    table = np.zeros((k, k))
    np.add.at(table, (labels, truth), 1)
    clusters, values = linear_sum_assignment(-table)
    cluster_of = dict(zip(values, clusters))
    corrections = {}
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        wrong = [int(i) for i in members[np.argsort(margins[members], kind="stable")]
                 if cluster_of[truth[i]] != cluster]
        corrections.update({i: int(cluster_of[truth[i]]) for i in wrong[:per_cluster]})
    return corrections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--places", nargs="+", default=["3:4", "2:3", "1:3"],
                        help="layer:position (position counted over the prompt's text tokens)")
    parser.add_argument("--criterion", default="color", choices=sorted(set(CRITERIA.values())))
    parser.add_argument("--contrast", type=float, default=1.0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--mmproj", type=Path, default=None)
    args = parser.parse_args()
    if args.mmproj is not None:
        lm, mmproj = Path(args.model), args.mmproj
    else:
        entry = ModelRegistry().get(args.model)
        lm, mmproj = entry.lm, entry.mmproj
    text = next(t for t, a in CRITERIA.items() if a == args.criterion)
    places = [tuple(int(x) for x in p.split(":")) for p in args.places]
    started = time.perf_counter()
    vectors, specs, tokens = read_places(lm, mmproj, Criterion(text).prompt, places, args.photos, args.contrast)
    print(f"{args.photos} photos (seed {SEED}, contrast {args.contrast}), '{text}', read in "
          f"{time.perf_counter() - started:.0f} s; model {lm.name}")
    values = sorted({s.label(args.criterion) for s in specs})
    truth = np.array([values.index(s.label(args.criterion)) for s in specs])
    k = len(values)
    print("place (token) | first NMI | corrections/cluster | NMI untouched: no learning -> learning | "
          "untouched changed | corrected moved back | learn s")
    for place in places:
        X = vectors[place]
        head = ClusteringHead(k, seed=0).fit(X)
        proba = head.predict_proba(X)
        margins = head.weights_.margins(X)
        first = scores(truth, head.labels_)["nmi"]
        for per_cluster in (1, 3, 5):
            corrections = simulated_user(truth, head.labels_, margins, per_cluster, k)
            untouched = np.ones(len(truth), bool)
            untouched[list(corrections)] = False
            t0 = time.perf_counter()
            try:
                learnt = learn_from_corrections(X, head.labels_, proba, corrections)
            except MethodInputError as exc:
                print(f"{place[0]}:{place[1]} | {first:.3f} | {per_cluster} | refused: {exc}")
                continue
            seconds = time.perf_counter() - t0
            new_id = {old: new for new, old in enumerate(learnt.kept)}
            back = sum(learnt.labels[i] != new_id[c] for i, c in corrections.items())
            before = scores(truth[untouched], head.labels_[untouched])["nmi"]
            after = scores(truth[untouched], learnt.labels[untouched])["nmi"]
            print(f"{place[0]}:{place[1]} ({tokens[place[1]]!r}) | {first:.3f} | {per_cluster} "
                  f"({len(corrections)} in all) | {before:.3f} -> {after:.3f} ({after - before:+.3f}) | "
                  f"{len(learnt.changed)} | {back} | {seconds:.1f}")


if __name__ == "__main__":
    main()
