"""Named values on simulated LLaVA-1.5-7b readings (tests/values_simulator.py, LLaMA's real vocabulary).

For each world (places: 5 values; colours: 7) and answer-mass level, every value is left out in turn from
300 photos at each seed; the table gives the share of the left-out value's photos sorted to `other` (mean,
least), of the named values' photos sorted to `other` (mean, most) and sorted to their own value (mean).
With --named N, only N values are named (each run names N consecutive values; the rest are left out).

    python benchmarks/values_simulator.py [--seeds 3] [--named N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esmc_desktop.mllm.vocabulary import Vocabulary  # noqa: E402
from tests.conftest import LLAMA_VOCAB  # noqa: E402
from tests.values_simulator import LEVELS, WORLDS, draw, leave_out  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--named", type=int, default=0, help="name only this many values (0: all but one)")
    args = parser.parse_args()
    print("| world | answer mass | left-out photos in `other`: mean (least) | named photos in `other`: mean (most) "
          "| named photos in their value |")
    print("| --- | --- | --- | --- | --- |")
    with Vocabulary(LLAMA_VOCAB) as vocab:
        for world in WORLDS:
            for level in LEVELS:
                rows = []
                for seed in range(args.seeds):
                    drawn = draw(world, vocab, level, seed)
                    n = len(drawn.values)
                    for i, value in enumerate(drawn.values):
                        left = [value] if not args.named else \
                            [drawn.values[(i + j) % n] for j in range(args.named, n)]
                        rows.append(leave_out(drawn, vocab, *left))
                a = np.array([[f.left_out_to_other, f.named_to_other, f.named_right] for f in rows])
                print(f"| {world} | {level:.1f} | {a[:, 0].mean():.1%} ({a[:, 0].min():.1%}) | "
                      f"{a[:, 1].mean():.1%} ({a[:, 1].max():.1%}) | {a[:, 2].mean():.1%} |")


if __name__ == "__main__":
    main()
