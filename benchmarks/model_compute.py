"""What the early stop and the weight layout buy, on the mid-size model (LM 1024x8, 256 image tokens, Q4_K_M).

Usage: python benchmarks/model_compute.py [--photos 12] [--rounds 3] [--threads 2] [--workdir /tmp/esmc-bench]

Early stop: photos/s reading a middle block (3 of 0..7) and a late one (6), each with the graph
stopped after that block and at full depth, in the same process, rounds interleaved so a
neighbour's load hits every variant alike. Weights: load time, photos/s and peak RSS with the
weights used from the mapped file and repacked into llama.cpp's CPU layouts (the file read, not
mapped), each in its own process. The model is built by benchmarks/model_layer.py's recipe when it is missing.
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

PROMPT = ["The color of the object is"]


def model_files(workdir: Path) -> tuple[Path, Path]:
    out = workdir / "mid-gguf"
    lm, mmproj = out / "bench-Q4_K_M.gguf", out / "bench-mmproj-f16.gguf"
    if not lm.is_file():
        from benchmarks.model_layer import SIZES
        from convert.llava_to_gguf import convert
        from models.tiny_llava import TinyLlavaSpec, build_tiny_llava

        hf = workdir / "mid-hf"
        if not (hf / "config.json").is_file():
            build_tiny_llava(hf, TinyLlavaSpec(**SIZES["mid"]))
        convert(hf, out, name="bench", outtype="f16", quant="Q4_K_M", force=True)
    return lm, mmproj


def _images(n: int, size: int):
    from models.tiny_llava import sample_image

    return [sample_image(i, size) for i in range(n)]


def early_stop(lm: Path, mmproj: Path, n: int, rounds: int, threads: int) -> None:
    from esmc_desktop.mllm.runtime import LlavaRuntime

    runtimes = {}
    for early in (False, True):
        rt = LlavaRuntime(lm, mmproj, n_threads=threads, early_stop=early)
        runtimes[early] = rt
    images = _images(n, runtimes[True].image_size)
    n_layer = runtimes[True].n_layer
    blocks = (n_layer // 2 - 1, n_layer - 2)
    seconds = {(b, e): 0.0 for b in blocks for e in (False, True)}
    for rt in runtimes.values():
        rt.run(images[0], PROMPT)  # warm-up
    for _ in range(rounds):
        for block in blocks:
            for early, rt in runtimes.items():
                rt.set_layers([block])
                t0 = time.perf_counter()
                for image in images:
                    rt.run(image, PROMPT)
                seconds[block, early] += time.perf_counter() - t0
    assert runtimes[True].early_stop, "this llama.cpp ignored the stop"
    print(f"early stop, {threads} threads, {n} photos x {rounds} rounds, 1 prompt:")
    for block in blocks:
        full, stopped = (n * rounds / seconds[block, e] for e in (False, True))
        print(f"  reading block {block} of 0..{n_layer - 1}: full depth {full:6.2f} photos/s, "
              f"stopped after it {stopped:6.2f} photos/s ({stopped / full:.2f}x)")


def weights_child(lm: str, mmproj: str, weights: str, n: int, threads: int) -> None:
    from esmc_desktop.mllm.runtime import LlavaRuntime
    from esmc_desktop.mllm.weight_layout import peak_rss_bytes  # this process's own (ru_maxrss has the parent's)

    t0 = time.perf_counter()
    rt = LlavaRuntime(lm, mmproj, n_threads=threads, weights=weights, layers=[6])
    load = time.perf_counter() - t0
    images = _images(n, rt.image_size)
    rt.run(images[0], PROMPT)
    t0 = time.perf_counter()
    for image in images:
        rt.run(image, PROMPT)
    rate = n / (time.perf_counter() - t0)
    print(json.dumps({"load_s": load, "photos_per_s": rate,
                      "rss_peak_kb": peak_rss_bytes() // 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esmc-bench"))
    args = parser.parse_args()
    lm, mmproj = model_files(args.workdir)
    early_stop(lm, mmproj, args.photos, args.rounds, args.threads)
    print(f"weights on the CPU, {args.threads} threads, {args.photos} photos, reading block 6:")
    for _ in range(2):
        for weights in ("mapped", "repacked"):
            out = subprocess.run([sys.executable, __file__, "--weights-child", str(lm), str(mmproj), weights,
                                  str(args.photos), str(args.threads)], capture_output=True, text=True, cwd=REPO)
            name = {"mapped": "mapped file", "repacked": "repacked, file read"}[weights]
            if out.returncode != 0:  # seen: SIGSEGV inside llama_decode with the repack on an AMX CPU
                print(f"  {name}: the process died (exit status {out.returncode})")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {name}: load {r['load_s']:.2f} s, {r['photos_per_s']:.2f} photos/s, "
                  f"peak RSS {r['rss_peak_kb'] / 1024:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--weights-child":
        weights_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
