"""Camera-size photos versus small ones: whole `cluster` wall time, and where a photo's time goes.

Usage: python benchmarks/photo_size.py [--photos 16] [--threads 2] [--workdir DIR] [--model LM --mmproj MMPROJ]

The same scenes (the demo world) are written twice as photo-like JPEGs (a
smooth scene plus per-pixel sensor-like noise, quality 92, like a camera's
output): 6000x4000 (24 MP, several MB each) and 672x448 (0.3 MP, the big ones
reduced). Each folder is sorted by `esmc-desktop cluster` in a fresh process
with a fresh cache (the wall time a user sees, export included); then the
same job runs in this process to split each photo's time into hash (scan),
decode (on the prefetch workers, overlapping the model), model and lens.
Default model: the shipped demo model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from esmc_desktop.demo.world import render, sample_specs  # noqa: E402
from esmc_desktop.engine.cluster import ClusterJob  # noqa: E402
from esmc_desktop.engine.session import ModelFiles, ModelSession  # noqa: E402
from esmc_desktop.engine.settings import ComputeRequest  # noqa: E402
from esmc_desktop.engine.types import Criterion  # noqa: E402
from esmc_desktop.mllm.gpu import GpuLayers  # noqa: E402

BIG, SMALL = (6000, 4000), (672, 448)
CRITERION = ("color of the object:3", "color of the object=red,green,blue,yellow,purple,orange")


def write_photos(workdir: Path, n: int) -> tuple[Path, Path]:
    """The same n scenes as 24 MP and 0.3 MP JPEGs (kept between runs)."""
    big, small = workdir / "big", workdir / "small"
    if len(list(big.glob("*.jpg"))) == n and len(list(small.glob("*.jpg"))) == n:
        return big, small
    for folder in (big, small):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, spec in enumerate(sample_specs(n, seed=7)):
        scene = render(spec, 1024).resize(BIG, Image.BICUBIC)
        noisy = np.asarray(scene, np.int16) + rng.normal(0, 4, (BIG[1], BIG[0], 1)).astype(np.int16)
        photo = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
        photo.save(big / f"IMG_{i:04d}.jpg", quality=92)
        photo.resize(SMALL, Image.LANCZOS).save(small / f"IMG_{i:04d}.jpg", quality=92)
    return big, small


def cli_seconds(photos: Path, out: Path, cache: Path, model: list[str], threads: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(photos), "--criterion", CRITERION[0],
                    "--keywords", CRITERION[1], "--out", str(out), "--cache", str(cache), "--threads", str(threads),
                    "--gpu-layers", "0", "--quiet", "--json", *model], check=True, cwd=REPO, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def split(photos: Path, cache: Path, lm: Path, mmproj: Path, threads: int) -> tuple[float, object]:
    shutil.rmtree(cache, ignore_errors=True)
    criteria = [Criterion.parse(CRITERION[0], CRITERION[1].split("=", 1)[1])]
    t0 = time.perf_counter()
    with ModelSession.open(ModelFiles(Path(lm), Path(mmproj)), ComputeRequest(GpuLayers(0), threads=threads),
                           cache_dir=cache) as session:
        result = ClusterJob(photos, criteria, session).run()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esmc-bench-photo-size"))
    parser.add_argument("--model", type=Path)
    parser.add_argument("--mmproj", type=Path)
    args = parser.parse_args()
    if args.model:
        lm, mmproj = args.model, args.mmproj
    else:
        from esmc_desktop.mllm.registry import demo_entry

        lm, mmproj = demo_entry().lm, demo_entry().mmproj
    model = ["--model", str(lm), "--mmproj", str(mmproj)]
    big, small = write_photos(args.workdir, args.photos)
    mb = sum(p.stat().st_size for p in big.glob("*.jpg")) / args.photos / 2**20
    kb = sum(p.stat().st_size for p in small.glob("*.jpg")) / args.photos / 2**10
    print(f"{args.photos} photos, {args.threads} threads, model {lm.name}; "
          f"24 MP JPEGs {mb:.1f} MB each, 0.3 MP JPEGs {kb:.0f} KB each")
    walls = {}
    for name, folder in (("0.3 MP", small), ("24 MP", big)):
        walls[name] = cli_seconds(folder, args.workdir / "out", args.workdir / "cache", model, args.threads)
    print(f"esmc-desktop cluster, whole run: 0.3 MP {walls['0.3 MP']:.2f} s, 24 MP {walls['24 MP']:.2f} s, "
          f"ratio big/small {walls['24 MP'] / walls['0.3 MP']:.2f}x")
    print("per photo, in-process ClusterJob (ms): hash = scan/photos; decode on the prefetch workers "
          "(overlaps the model); wait = the model waiting for a decode")
    for name, folder in (("0.3 MP", small), ("24 MP", big)):
        seconds, result = split(folder, args.workdir / "cache", lm, mmproj, args.threads)
        t, n = result.times, len(result.photos)
        print(f"  {name:6s}: hash {1000 * t.scan / n:6.1f}  decode {1000 * t.decode / max(t.photos_decoded, 1):6.1f}  "
              f"wait {1000 * t.decode_wait / n:6.1f}  model {1000 * t.model / n:6.1f}  lens {1000 * t.lens / n:6.1f}"
              f"   (job {seconds:.2f} s, model load {t.load:.2f} s, {result.images_encoded} image runs "
              f"for {n} photos)")


if __name__ == "__main__":
    main()
