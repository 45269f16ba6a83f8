"""What reading RAW files and writing keywords cost: preview vs half-size demosaic, sidecars and embedded JPEGs.

    python benchmarks/raw_and_tags.py [--megapixels 24] [--photos 200]

Writes a DNG of a camera-sized sensor with a camera-sized JPEG preview (1620 px, as many
cameras embed) and times `load_rgb` on it through the preview and through the half-size
demosaic; then times a tag export of generated JPEGs into sidecars and into the JPEGs
themselves, and its undo. Needs the test extra (tifffile, imagecodecs) to write the DNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from esmc_desktop.photos.export import ExportRow, export, sources  # noqa: E402
from esmc_desktop.photos.undo import undo_export  # noqa: E402
from esmc_desktop.photos.raw import load_raw  # noqa: E402
from esmc_desktop.photos.scan import scan  # noqa: E402
from models.tiny_llava import sample_image  # noqa: E402
from tests.raw_files import write_dng  # noqa: E402


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="esmc-raw-bench-"))

    width = int(round((args.megapixels * 1e6 * 1.5) ** 0.5 / 2)) * 2
    height = int(round(width / 1.5 / 2)) * 2
    rgb = np.asarray(Image.fromarray(sample_image(3)).resize((width, height)))
    dng = write_dng(work / "camera.dng", rgb, preview="jpeg", preview_size=1620)
    preview = best_of(3, lambda: load_raw(dng, max_pixels=10**9))
    demosaic = best_of(3, lambda: load_raw(dng, max_pixels=10**9, min_preview_side=10**6))
    print(f"RAW {width}x{height} ({width * height / 1e6:.1f} MP), {dng.stat().st_size / 2**20:.0f} MiB DNG:")
    print(f"  embedded 1620 px JPEG preview   {preview * 1000:8.1f} ms")
    print(f"  half-size demosaic              {demosaic * 1000:8.1f} ms  ({demosaic / preview:.0f}x)")

    photos = work / "photos"
    photos.mkdir()
    for i in range(args.photos):
        Image.fromarray(sample_image(i)).resize((1024, 768)).save(photos / f"IMG_{i:04d}.JPG", quality=90)
    found = sources(scan(photos).photos)
    rows = ([ExportRow(p, "color of the car", i % 3, ["red", "blue", "white"][i % 3], 0.9) for i, p in enumerate(found)]
            + [ExportRow(p, "shape", 0, "sedan", 0.8) for p in found])
    for mode in ("tags", "tags-embedded"):
        out = work / f"out-{mode}"
        start = time.perf_counter()
        export(rows, out, mode=mode)
        written = time.perf_counter() - start
        start = time.perf_counter()
        undo_export(out)
        undone = time.perf_counter() - start
        print(f"{mode:14s} {len(found)} photos, 2 criteria: export {len(found) / written:6.1f} photos/s, "
              f"undo {len(found) / undone:6.1f} photos/s")


if __name__ == "__main__":
    main()
