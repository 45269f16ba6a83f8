"""Where each localization rule reads a criterion on a simulated LLaVA-1.5-7b lens (LLaMA's real vocabulary).

For every scenario of tests/lens_simulator.py, one world of 120 photos; each rule chooses a place from 20
sample photos, for 10 seeds; the table gives the NMI of k-means at the chosen places (mean and worst), the
best place in hindsight (searched over every block and token) and the places chosen.

    python benchmarks/localization_scenarios.py [--seeds 10] [--world-seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esmc_desktop.mllm.vocabulary import Vocabulary  # noqa: E402
from tests.conftest import LLAMA_VOCAB  # noqa: E402
from tests.lens_simulator import SCENARIOS, choose, draw  # noqa: E402

RULES = ("settled", "paper")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--world-seed", type=int, default=1)
    args = parser.parse_args()
    print("| scenario | best place (NMI) | " + " | ".join(f"{r}: NMI mean / worst, places" for r in RULES) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in RULES) + " |")
    with Vocabulary(LLAMA_VOCAB) as vocab:
        for name in SCENARIOS:
            world = draw(name, vocab, seed=args.world_seed)
            best, (layer, pos) = world.best()
            cells = []
            for rule in RULES:
                places = [choose(world, rule, seed) for seed in range(args.seeds)]
                nmis = [world.nmi_at(*p) for p in places]
                where = ", ".join(f"{l}:{world.pieces[p]!r}" for l, p in sorted(set(places))[:3])
                cells.append(f"{np.mean(nmis):.2f} / {min(nmis):.2f}, {where}")
            print(f"| {name} | {layer}:{world.pieces[pos]!r} ({best:.2f}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
