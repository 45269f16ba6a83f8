"""Faults a user's machine throws at a run, injected at random points; does every photo survive?

    python benchmarks/faults.py [--faults 200] [--seed 0] [--jpegs 10] [--pairs 3] [--only SIGINT ...]

A photo folder of real-size JPEGs (3000x2000) and RAW+JPEG pairs (DNG + JPEG of one moment) is
sorted with the shipped demo model through `python -m esmc_desktop.cli`, and one fault is
injected per trial: kill -9 or SIGINT after a random delay, a full disk (the output on a small
tmpfs; needs root to mount it, otherwise that fault is left out and said), a read-only output,
a journal torn by a random number of bytes before `undo`, or a second run into the same output
started beside the first. The operations: `cluster` in every mode (copy, hardlink, symlink,
move, tags, tags-embedded), `assign`, `learn` and `undo`. After each fault the user's recovery
is run (`undo` where a journal exists, `learn` again after a stopped learn), then every original
is checked by SHA-256: it exists exactly once, where it was, unchanged (a JPEG that had keywords
embedded and taken back: the same pixels, as `undo` promises for that mode).

Prints: faults injected, runs that ended with a sentence (exit 0, 1 or 130 and no traceback;
kill -9 gives no chance to say anything and is not counted; a SIGINT inside Python's own start-up,
before the program's first line, is counted apart), photos lost (goal 0), undo exact (goal 100%).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from esmc_desktop.photos.export_folder import ExportFolder  # noqa: E402
from esmc_desktop.photos.export_folder.layout import PENDING_FILE  # noqa: E402
from models.tiny_llava import sample_image  # noqa: E402
from tests.raw_files import write_dng  # noqa: E402

MODES = ("copy", "hardlink", "symlink", "move", "tags", "tags-embedded")
UNDOABLE = ("move", "tags", "tags-embedded")
FAULTS = ("kill -9", "SIGINT", "full disk", "read-only output", "torn journal", "second run")
CRITERION = ["--criterion", "color of the object:2", "--keywords", "color of the object=red,green"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> str:
    with Image.open(path) as im:
        return hashlib.sha256(im.convert("RGB").tobytes()).hexdigest()


def make_library(folder: Path, jpegs: int, pairs: int) -> None:
    folder.mkdir(parents=True)
    for i in range(jpegs):
        img = Image.fromarray(sample_image(i)).resize((3000, 2000))
        sub = folder / ("2024" if i % 3 == 0 else "")
        sub.mkdir(exist_ok=True)
        img.save(sub / f"IMG_{i:04d}.JPG", quality=92)
    for i in range(pairs):
        rgb = np.asarray(Image.fromarray(sample_image(100 + i)).resize((1200, 800)))
        write_dng(folder / f"PAIR_{i:04d}.DNG", rgb, preview="jpeg", preview_size=1024)
        Image.fromarray(rgb).save(folder / f"PAIR_{i:04d}.JPG", quality=92)


class Bench:
    def __init__(self, work: Path, seed: int, tmpfs: Path | None) -> None:
        self.work, self.rng, self.tmpfs = work, random.Random(seed), tmpfs
        self.env = {**os.environ, "XDG_CACHE_HOME": str(work / "xdg-cache"), "XDG_DATA_HOME": str(work / "xdg-data"),
                    "PYTHONPATH": str(REPO)}
        self.counts: Counter = Counter()
        self.lost: list[str] = []
        self.durations: dict[str, float] = {}

    # -- running the program ------------------------------------------------------

    def start(self, args: list[str]) -> subprocess.Popen:
        quiet = ["--quiet"] if args[0] in ("cluster", "assign") else []
        return subprocess.Popen([sys.executable, "-m", "esmc_desktop.cli", *args, *quiet], cwd=REPO, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen, killed: bool = False) -> tuple[int, str]:
        _, err = proc.communicate(timeout=900)
        if not killed:
            self.counts["runs"] += 1
            if proc.returncode in (0, 1, 130) and "Traceback" not in err:
                self.counts["sentences"] += 1
            elif "init_import_site" in err:  # Python's own start-up, before the program's first line
                self.counts["python start-up"] += 1
            else:
                print(f"  no sentence: exit {proc.returncode}: {err.strip()[-300:]}")
        return proc.returncode, err

    def run(self, args: list[str]) -> tuple[int, str]:
        return self.finish(self.start(args))

    def run_read_only(self, folder: Path, args: list[str]) -> tuple[int, str]:
        """A run while `folder` is read-only (the fault), made writable again after it."""
        folder.chmod(0o555)
        try:
            return self.run(args)
        finally:
            folder.chmod(0o755)

    def cluster_args(self, photos: Path, out: Path, mode: str) -> list[str]:
        return ["cluster", str(photos), *CRITERION, "--out", str(out), "--mode", mode, "--cache",
                str(self.work / "cache"), "--threads", "1", "--gpu-layers", "0"]

    # -- the state a trial starts from, and the check after it --------------------

    def fresh_library(self) -> Path:
        lib = self.work / "lib"
        if lib.exists():
            shutil.rmtree(lib)
        shutil.copytree(self.work / "pristine", lib, copy_function=shutil.copy2)
        return lib

    def originals(self, folder: Path) -> dict[str, tuple[str, str]]:
        return {str(p.relative_to(folder)): (sha(p), pixels(p) if p.suffix == ".JPG" else "")
                for p in sorted(folder.rglob("*")) if p.is_file()}

    def check(self, lib: Path, before: dict, embedded: bool) -> bool:
        """Every original exactly once, where it was, unchanged; returns whether the folder is exactly as before."""
        now = {str(p.relative_to(lib)): p for p in sorted(lib.rglob("*")) if p.is_file()}
        exact = True
        for name, (digest, picture) in before.items():
            path = now.get(name)
            if path is None:
                self.lost.append(name)
                exact = False
                continue
            same = sha(path) == digest or (embedded and picture and pixels(path) == picture)
            if not same:
                self.lost.append(f"{name} (changed)")
                exact = False
        extra = sorted(set(now) - set(before))
        if extra:
            exact = False
            print(f"  left in the photo folder: {extra[:3]}")
            if any(sha(now[n]) in {d for d, _ in before.values()} for n in extra):
                self.lost.append(f"duplicates left in the photo folder: {extra[:3]}")
        return exact

    # -- faults -----------------------------------------------------------------

    def with_fault(self, fault: str, args: list[str], out: Path) -> None:
        """Run `args` with `fault` injected."""
        key = args[0] + ("-" + args[args.index("--mode") + 1] if "--mode" in args else "")
        if fault in ("kill -9", "SIGINT"):
            expected = self.durations.get(key, 3.0)
            proc = self.start(args)
            try:
                proc.wait(timeout=self.rng.uniform(0.05, expected))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL if fault == "kill -9" else signal.SIGINT)
            self.finish(proc, killed=fault == "kill -9")
        elif fault == "second run":
            first, second = self.start(args), self.start(args)
            self.finish(first)
            self.finish(second)
        else:  # full disk, read-only output: the run itself meets them
            self.run(args)

    def timed(self, key: str, args: list[str]) -> tuple[int, str]:
        started = time.perf_counter()
        code, err = self.run(args)
        self.durations[key] = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"the clean run of {key} failed: {err}")
        return code, err

    def output(self, n: int, fault: str) -> Path:
        if fault == "full disk":
            out = self.tmpfs / f"out-{n}"
        else:
            out = self.work / f"out-{n}"
        if fault == "read-only output":
            out.mkdir()
            (out / "color of the object").mkdir()
            out.chmod(0o555)
        return out

    def clean(self, out: Path) -> None:
        if out.exists():
            for p in [out, *out.rglob("*")]:
                if p.is_dir() and not p.is_symlink():
                    p.chmod(0o755)
            shutil.rmtree(out)

    # -- trials -----------------------------------------------------------------

    def trial_cluster(self, n: int, fault: str, mode: str) -> None:
        lib = self.fresh_library()
        before = self.originals(lib)
        out = self.output(n, fault)
        args = self.cluster_args(lib, out, mode)
        if fault == "torn journal":
            self.run(args)
            journal = ExportFolder(out).tags_journal if mode.startswith("tags") else ExportFolder(out).move_journal
            if journal.is_file() and journal.stat().st_size:
                data = journal.read_bytes()
                journal.write_bytes(data[:-self.rng.randint(1, min(200, len(data)))])
        else:
            self.with_fault(fault, args, out)
        undone = False
        if mode in UNDOABLE and (ExportFolder(out).is_move_export() or ExportFolder(out).is_tag_export()):
            if out.exists():
                out.chmod(0o755)
            self.run(["undo", str(out)])
            undone = True
        exact = self.check(lib, before, embedded=mode == "tags-embedded")
        if undone:
            self.counts["undos"] += 1
            self.counts["undo exact"] += exact
        self.clean(out)

    def trial_undo(self, n: int, fault: str) -> None:
        lib = self.fresh_library()
        before = self.originals(lib)
        mode = self.rng.choice(UNDOABLE)
        out = self.work / f"out-{n}"
        self.run(self.cluster_args(lib, out, mode))
        journal = ExportFolder(out).move_journal if mode == "move" else ExportFolder(out).tags_journal
        if fault == "torn journal":
            data = journal.read_bytes()
            journal.write_bytes(data[:-self.rng.randint(1, min(200, len(data)))])
            self.run(["undo", str(out)])
        elif fault == "read-only output":
            self.run_read_only(out, ["undo", str(out)])
        elif fault == "full disk":
            self.run(["undo", str(out)])  # undo writes into the photo folder, not a small disk: a plain undo
        else:
            self.with_fault(fault, ["undo", str(out)], out)
        if journal.is_file():
            self.run(["undo", str(out)])  # the user's recovery: undo again
        self.counts["undos"] += 1
        self.counts["undo exact"] += self.check(lib, before, embedded=mode == "tags-embedded")
        self.clean(out)

    def export(self, n: int) -> Path:
        """A copy export of the library (vectors cached: no model evaluation), for assign and learn to work on."""
        out = self.work / f"out-{n}"
        self.run(self.cluster_args(self.fresh_library(), out, "copy"))
        return out

    def trial_assign(self, n: int, fault: str) -> None:
        base = self.export(n)
        new = self.work / "new"
        if new.exists():
            shutil.rmtree(new)
        shutil.copytree(self.work / "new-pristine", new)
        before = self.originals(new)
        mode = self.rng.choice(("copy", "move"))
        args = ["assign", str(new), "--result", str(base), "--mode", mode, "--cache", str(self.work / "cache"),
                "--threads", "1", "--gpu-layers", "0"]
        if fault == "full disk":
            self.durations.setdefault("assign", 3.0)
            fault = "SIGINT"  # the result folder is not on the small disk; a stop instead
        if fault == "torn journal":
            self.run(args)
            journal = ExportFolder(base).move_journal
            if journal.is_file():
                data = journal.read_bytes()
                journal.write_bytes(data[:-self.rng.randint(1, min(200, len(data)))])
        elif fault == "read-only output":
            self.run_read_only(base, args)
        else:
            self.with_fault(fault, args, base)
        undone = ExportFolder(base).is_move_export()
        if undone:
            self.run(["undo", str(base)])
            self.counts["undos"] += 1
        exact = self.check(new, before, embedded=False)
        self.counts["undo exact"] += exact and undone
        self.clean(base)

    def trial_learn(self, n: int, fault: str) -> None:
        out = self.export(n)
        rows = ExportFolder(out).read_manifest()
        row = self.rng.choice(rows)  # the user moves one photo to the other cluster's folder
        src = Path(row.destination)
        others = [f for f in src.parent.parent.iterdir() if f.is_dir() and f != src.parent]
        target = (others[0] if others else src.parent.parent / "mine")
        target.mkdir(exist_ok=True)
        src.rename(target / src.name)
        photos = {r.sha256 for r in rows}
        args = ["learn", str(out), "--cache", str(self.work / "cache")]
        if fault in ("full disk", "torn journal"):
            if fault == "torn journal":  # a learn killed while journaling its plan: the last line cut short
                plan = [json.dumps({"criteria": [str(src.parent.parent)]}),
                        json.dumps({"sha256": row.sha256, "from": str(target / src.name), "to": str(src)})]
                (ExportFolder(out).state / PENDING_FILE).write_text(plan[0] + "\n" + plan[1][:len(plan[1]) // 2])
            self.run(args)
        elif fault == "read-only output":
            self.run_read_only(target, args)
        else:
            self.with_fault(fault, args, out)
        self.run(args)  # the user's recovery: learn again finishes what was planned
        found = Counter(sha(p) for p in (out / "color of the object").rglob("*") if p.is_file())
        for digest in photos:
            if found[digest] != 1:
                self.lost.append(f"learn: a photo is in the export {found[digest]} times")
        self.clean(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jpegs", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--only", action="append", choices=FAULTS, metavar="FAULT",
                        help=f"inject only this fault (repeatable): {', '.join(FAULTS)}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="esmc-faults-"))
    tmpfs = work / "small-disk"
    tmpfs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(tmpfs)],
                             capture_output=True).returncode == 0
    faults = tuple(f for f in args.only or FAULTS if mounted or f != "full disk")
    if not faults:
        raise SystemExit("the only fault asked for, a full disk, needs a small disk mounted (run as root)")
    if not mounted:
        print("no small disk could be mounted (needs root): the full-disk fault is left out")
    bench = Bench(work, args.seed, tmpfs if mounted else None)
    try:
        make_library(work / "pristine", args.jpegs, args.pairs)
        make_library(work / "new-pristine", 3, 1)
        for f in (work / "new-pristine").rglob("*"):  # other moments than the library's
            if f.is_file():
                f.rename(f.with_name("NEW_" + f.name))
        lib = bench.fresh_library()
        for mode in MODES:  # clean runs: how long each takes, so faults land inside them
            out = work / f"clean-{mode}"
            bench.timed(f"cluster-{mode}", bench.cluster_args(lib, out, mode))
            if mode in UNDOABLE:
                bench.timed("undo", ["undo", str(out)])
            bench.clean(out)
            lib = bench.fresh_library()
        assign_out = work / "clean-assign"
        bench.timed("cluster-copy", bench.cluster_args(lib, assign_out, "copy"))
        bench.timed("assign", ["assign", str(work / "new-pristine"), "--result", str(assign_out), "--cache",
                               str(work / "cache"), "--threads", "1", "--gpu-layers", "0"])
        bench.timed("learn", ["learn", str(assign_out), "--cache", str(work / "cache")])
        bench.clean(assign_out)
        bench.counts.clear()
        print("clean runs (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(bench.durations.items())))

        operations = [*(("cluster", m) for m in MODES), ("assign", None), ("learn", None), ("undo", None)]
        injected: Counter = Counter()
        for n in range(args.faults):
            op, mode = bench.rng.choice(operations)
            fault = bench.rng.choice(faults)
            if fault == "full disk" and op != "cluster":  # only a cluster run writes onto the small disk
                others = [f for f in faults if f != "full disk"]
                if others:
                    fault = bench.rng.choice(others)
                else:
                    op, mode = "cluster", bench.rng.choice(MODES)
            injected[(op if mode is None else f"cluster --mode {mode}", fault)] += 1
            lost = len(bench.lost)
            if op == "cluster":
                bench.trial_cluster(n, fault, mode)
            else:
                getattr(bench, f"trial_{op}")(n, fault)
            if len(bench.lost) > lost:
                print(f"  fault {n}: {op} {mode or ''} with {fault}: {bench.lost[lost:]}")
            if (n + 1) % 20 == 0:
                print(f"{n + 1} faults injected, {len(bench.lost)} photos lost so far", flush=True)
    finally:
        if mounted:
            subprocess.run(["umount", str(tmpfs)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    c = bench.counts
    by_fault = Counter()
    for (_, fault), k in injected.items():
        by_fault[fault] += k
    print(f"faults injected: {sum(injected.values())} ({', '.join(f'{f} {k}' for f, k in sorted(by_fault.items()))})")
    print(f"runs that ended with a sentence: {c['sentences']} of {c['runs']} (kill -9 ends a run without one)")
    if c["python start-up"]:
        print(f"  of the others, stopped inside Python's own start-up (site imports, before the program's first "
              f"line; Python says 'Fatal Python error: init_import_site'): {c['python start-up']}")
    print(f"photos lost: {len(bench.lost)}")
    print(f"undo exact: {c['undo exact']} of {c['undos']}"
          + (f" ({100 * c['undo exact'] / c['undos']:.0f}%)" if c["undos"] else ""))


if __name__ == "__main__":
    main()
