"""How long `esmc-desktop --help` and every command's `--help` take, in wall time, as a user waits for them.

Each is run as its own process (`python -m esmc_desktop.cli ... --help`, what the `esmc-desktop`
script runs) several times; the median is printed, with the CPU time the processes used (on a
shared, busy machine the wall time includes the wait for a core). For comparison, the same for a
bare Python and for importing the heavy modules a run needs (numpy, scipy, scikit-learn, onnx,
onnxruntime, llama.cpp; PySide6 for the window), which `--help` does not import.

    python benchmarks/cli_startup.py [--runs 7] [--root CHECKOUT]

--root measures another checkout of the project (e.g. an older commit in a git worktree).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = (["inspect"], ["cluster"], ["assign"], ["gui"], ["demo"], ["bench"], ["learn"], ["undo"], ["doctor"],
            ["models"], ["models", "check"], ["models", "pull"], ["models", "list"])
HEAVY = "import numpy, scipy, sklearn, onnx, onnxruntime, llama_cpp"
WINDOW = "import PySide6.QtWidgets"


def timed(argv: list[str], root: Path, runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of `runs` runs of a command."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (the median is printed)")
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "esmc_desktop.cli"]
    wall, cpu = timed([*cli, "--help"], args.root, args.runs)
    print(f"esmc-desktop --help: {wall:.3f} s wall, {cpu:.3f} s CPU (median of {args.runs} runs; {args.root})")
    each = {" ".join(c): timed([*cli, *c, "--help"], args.root, args.runs) for c in COMMANDS}
    slowest = max(each, key=lambda c: each[c][0])
    print(f"slowest command --help: {slowest}, {each[slowest][0]:.3f} s wall, {each[slowest][1]:.3f} s CPU")
    print("  " + ", ".join(f"{c} {w:.3f}" for c, (w, _) in each.items()))
    for label, code in (("bare python", "pass"), (f"python -c '{HEAVY}'", HEAVY), (f"python -c '{WINDOW}'", WINDOW)):
        wall, cpu = timed([sys.executable, "-c", code], args.root, args.runs)
        print(f"for comparison, {label}: {wall:.3f} s wall, {cpu:.3f} s CPU")


if __name__ == "__main__":
    main()
