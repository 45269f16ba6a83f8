"""Pipeline figures: photos/s for 1 and 3 criteria, a fully cached re-run, cache size.

Usage: python benchmarks/pipeline.py --model LM.gguf --mmproj MMPROJ.gguf [--photos 500] [--workdir DIR]

Photos are generated (models.tiny_llava.sample_image at 56 px, PNG). photos/s
is the "reading photos" stage (decode + model + lens + cache write), measured
by the pipeline's own progress reports; the whole-run time includes scanning,
localization and clustering.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from esmc_desktop.photos.cache import FeatureCache  # noqa: E402
from esmc_desktop.engine.cluster import ClusterJob  # noqa: E402
from esmc_desktop.engine.session import ModelFiles, ModelSession  # noqa: E402
from esmc_desktop.engine.settings import ComputeRequest  # noqa: E402
from esmc_desktop.engine.types import Criterion  # noqa: E402
from esmc_desktop.mllm.gpu import GpuLayers  # noqa: E402
from models.tiny_llava import sample_image  # noqa: E402

CRITERIA = [Criterion.parse("color of the object:3", "red,green,blue"),
            Criterion.parse("shape of the object:3", "circle,square,star"),
            Criterion.parse("the background:3", "sky,sea,grass")]


def run(photos: Path, criteria, lm, mmproj, cache: Path, threads: int):
    rates = []
    t0 = time.perf_counter()
    with ModelSession.open(ModelFiles(Path(lm), Path(mmproj)), ComputeRequest(GpuLayers(0)), cache_dir=cache) as session:
        result = ClusterJob(photos, criteria, session, progress=lambda p: rates.append(p.photos_per_second)
                            if p.stage == "reading photos" else None).run()
    return time.perf_counter() - t0, (rates[-1] if rates else 0.0), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--mmproj", required=True)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esmc-bench-pipeline"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    photos = args.workdir / "photos"
    photos.mkdir(parents=True)
    for i in range(args.photos):
        Image.fromarray(sample_image(i)).save(photos / f"p{i:04d}.png")
    one_t, one_rate, _ = run(photos, CRITERIA[:1], args.model, args.mmproj, args.workdir / "c1", args.threads)
    three_t, three_rate, _ = run(photos, CRITERIA, args.model, args.mmproj, args.workdir / "c3", args.threads)
    again_t, _, again = run(photos, CRITERIA, args.model, args.mmproj, args.workdir / "c3", args.threads)
    with FeatureCache(args.workdir / "c3") as cache:
        size, rows = cache.size_bytes(), cache.count_vectors()
    print(f"{args.photos} photos, {args.threads} threads")
    print(f"1 criterion : {one_rate:7.1f} photos/s in the reading stage, whole run {one_t:6.2f} s")
    print(f"3 criteria  : {three_rate:7.1f} photos/s in the reading stage, whole run {three_t:6.2f} s "
          f"(cost ratio {one_rate / three_rate:.2f}x)")
    print(f"cached rerun: whole run {again_t:6.2f} s, {again.images_encoded} model evaluations")
    print(f"cache: {size / 1024:.0f} KiB for {rows} vectors = {size / rows:.0f} bytes per photo per criterion")


if __name__ == "__main__":
    main()
