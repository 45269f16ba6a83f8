"""Figures for the model layer: conversion time and memory, photos/s for 1 and 3 prompts.

Usage: python benchmarks/model_layer.py [--size tiny|mid] [--photos N] [--workdir DIR]

`tiny` is the test model (LM 256x4, 16 image tokens); `mid` is closer to real
proportions (LM 1024x8, vocab 32000, 256 image tokens). Peak RSS of the
conversion is sampled every 5 ms in a child process and compared with the
largest tensor and the whole checkpoint, to show the converter streams.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPTS = ["The color of the object is", "The shape of the object is", "What is in the background?"]
SIZES = {
    "tiny": dict(),
    "mid": dict(vision_hidden=256, vision_layers=4, vision_heads=4, image_size=224, patch_size=14,
                 text_hidden=1024, text_layers=8, text_heads=8, text_ffn=2752, sp_vocab=2000,
                 vocab_pad_multiple=32000),
}


def _convert_child(hf: str, out: str) -> None:
    """Run in a subprocess: report RSS after imports and the peak after converting."""
    import convert.llava_to_gguf as conv  # noqa: F401  (imports counted in the baseline)
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import threading

    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    conv.convert(hf, out, name="bench", outtype="f16", quant="Q4_K_M", force=True)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    print(json.dumps({"seconds": seconds, "rss_base_kb": base // 1024, "rss_peak_kb": peak[0] // 1024}))


def photos_per_second(lm: Path, mmproj: Path, images, prompts, shared: bool, threads: int) -> float:
    from esmc_desktop.mllm.runtime import LlavaRuntime

    with LlavaRuntime(lm, mmproj, n_ctx=1024, n_threads=threads) as rt:
        rt.run(images[0], prompts[:1])  # warm-up
        t0 = time.perf_counter()
        for img in images:
            if shared:
                rt.run(img, prompts)
            else:
                for p in prompts:
                    rt.run(img, [p])
        return len(images) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esmc-bench"))
    args = parser.parse_args()

    from convert.checkpoint import Checkpoint
    from models.tiny_llava import TinyLlavaSpec, build_tiny_llava, sample_image

    spec = TinyLlavaSpec(**SIZES[args.size])
    hf, out = args.workdir / f"{args.size}-hf", args.workdir / f"{args.size}-gguf"
    if not (hf / "config.json").is_file():
        build_tiny_llava(hf, spec)
    ckpt = Checkpoint(hf)
    total = sum(f.stat().st_size for f in ckpt.files)
    largest = ckpt.largest_tensor_bytes()
    child = subprocess.run([sys.executable, __file__, "--convert-child", str(hf), str(out)],
                           capture_output=True, text=True, check=True, cwd=REPO)
    conv = json.loads(child.stdout.strip().splitlines()[-1])
    grew_mb = (conv["rss_peak_kb"] - conv["rss_base_kb"]) / 1024
    print(f"model: {args.size}  checkpoint {total / 2**20:.1f} MiB, largest tensor {largest / 2**20:.1f} MiB")
    print(f"conversion (f16 + mmproj + Q4_K_M): {conv['seconds']:.1f} s; peak RSS grew {grew_mb:.1f} MiB "
          f"over the {conv['rss_base_kb'] / 1024:.0f} MiB after imports "
          f"({grew_mb / (largest / 2**20):.1f}x the largest tensor, {grew_mb / (total / 2**20):.2f}x the checkpoint)")

    size = spec.image_size
    images = [sample_image(i, size) for i in range(args.photos)]
    lm, mmproj = out / "bench-Q4_K_M.gguf", out / "bench-mmproj-f16.gguf"
    one = photos_per_second(lm, mmproj, images, PROMPTS[:1], True, args.threads)
    three = photos_per_second(lm, mmproj, images, PROMPTS, True, args.threads)
    apart = photos_per_second(lm, mmproj, images, PROMPTS, False, args.threads)
    print(f"Q4_K_M LM, {args.threads} threads, {args.photos} photos:")
    print(f"  1 prompt:            {one:7.2f} photos/s")
    print(f"  3 prompts, shared:   {three:7.2f} photos/s  (cost ratio {one / three:.2f}x one prompt)")
    print(f"  3 prompts, separate: {apart:7.2f} photos/s  (cost ratio {one / apart:.2f}x one prompt)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--convert-child":
        _convert_child(sys.argv[2], sys.argv[3])
    else:
        main()
