"""Clustering-head training time at |V| = 32000 with top-50 sparse lens vectors.

Usage: python benchmarks/head_training.py [--sizes 1000 10000] [--clusters 4]

The paper (ESMC Table 4) reports 0.37 s for Stanford Cars (~1,200 images) and
15 s for CIFAR-10 on a 24 GB GPU (100 epochs). This prints ours on the CPU,
split into k-means initialisation and MLP training, with the NMI reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esmc_desktop.method.head import ClusteringHead  # noqa: E402
from esmc_desktop.method.metrics import scores  # noqa: E402
from tests.synthetic_lens import make_photos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--clusters", type=int, default=4)
    args = parser.parse_args()
    print("photos | total s | k-means s | MLP s | NMI")
    for n in args.sizes:
        photos = make_photos(n, seed=0, signal=(0.1, 0.6))
        X = photos.target_vectors("color")
        head = ClusteringHead(args.clusters, seed=0)
        t0 = time.perf_counter()
        head.fit(X)
        total = time.perf_counter() - t0
        t1 = time.perf_counter()
        ClusteringHead(args.clusters, seed=0, epochs=1).fit(X)  # k-means + one epoch
        kmeans = time.perf_counter() - t1
        nmi = scores(photos.labels["color"], head.labels_)["nmi"]
        print(f"{n:6d} | {total:7.2f} | {kmeans:9.2f} | {total - kmeans:5.2f} | {nmi:.3f}")


if __name__ == "__main__":
    main()
