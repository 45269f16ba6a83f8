"""The Python half of `benchmarks/gpu_check.sh`: parity with the CPU build, the 7B-shaped pair, and its figures.

Usage: python benchmarks/gpu_check.py --out DIR [--workdir DIR] [--steps parity,write,quantize,measure]
       [--shape 7b|small] [--photos 32] [--threads N] [--bundle gpu_bundle]

Runs with numpy and the pure-Python packages of gpu_bundle/site only (no Pillow, psutil, scipy):
photos are arrays of the size the product hands the runtime (its decoder shrinks each photo to at
least 336 px on the short side first).

parity:   the demo pair's hidden states at every block, all layers and the mmproj on the GPU (and the
          GPU build on its CPU as a control), against gpu_bundle/cpu_reference.npz from the CPU build:
          the smallest cosine per token row must be >= 0.999; then one block read with the early stop on,
          against the same reference, and whether llama.cpp stopped the graph there.
write:    the LLaVA-1.5-7b-shaped pair with benchmarks/llava7b_shape.py's writers (--shape small: the same
          code with smaller widths and depths, for a rehearsal on a CPU).
quantize: the LM to Q4_K_M on every core, with the product's quantizer.
measure:  each configuration in its own process: load time, photos/s with 1 and 3 criteria, GPU memory
          (nvidia-smi, this process's own and the card's) and llama.cpp's free device memory.
Everything goes to --out: results.jsonl (one JSON object per measurement) and summary.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

PROMPTS = ["The color of the object is", "The shape of the object is", "The background of the photo is"]
ALL_LAYERS = 999  # more than any model has: llama.cpp offloads every layer
PARITY_MIN_COSINE = 0.999
SMALL = dict(lm=dict(n_embd=1024, n_layer=8, n_ff=2816, n_head=8), vision=dict(n_layer=4))
# what is measured: name -> (GPU layers, mmproj on the GPU, early stop)
CONFIGS = {
    "all layers and the mmproj on the GPU": (ALL_LAYERS, True, True),
    "same, early stop off": (ALL_LAYERS, True, False),
    "all layers on the GPU, mmproj on the CPU": (ALL_LAYERS, False, True),
    "CPU only (every core)": (0, False, True),
}


def shape_module(shape: str):
    """benchmarks/llava7b_shape.py, with smaller widths and depths for --shape small (same writers)."""
    import llava7b_shape

    if shape == "small":
        llava7b_shape.LM.update(SMALL["lm"])
        llava7b_shape.VISION.update(SMALL["vision"])
    return llava7b_shape


def read_block(n_layer: int) -> int:
    """The block the product reads on LLaVA-1.5-7b (25 of 32), scaled to the model's depth."""
    return min(n_layer - 1, max(0, round(25 * n_layer / 32)))


def photos(n: int) -> list[np.ndarray]:
    """Photo-like arrays of the size the product's decoder hands the runtime (448 x 336)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:336, 0:448]
    out = []
    for _ in range(n):
        cx, cy, r = rng.integers(100, 348), rng.integers(80, 256), rng.integers(40, 120)
        disc = ((x - cx) ** 2 + (y - cy) ** 2 < r ** 2)[..., None]
        out.append(np.where(disc, rng.integers(0, 256, 3), rng.integers(0, 256, 3)).astype(np.uint8))
    return out


def nvidia_smi(*query: str) -> list[list[str]] | None:
    try:
        out = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [[c.strip() for c in line.split(",")] for line in out.stdout.strip().splitlines() if line.strip()]


def gpu_memory() -> dict:
    """This process's GPU memory and the card's, in MiB, as nvidia-smi sees them (None without nvidia-smi)."""
    apps = nvidia_smi("--query-compute-apps=pid,used_memory") or []
    card = nvidia_smi("--query-gpu=memory.used,memory.total")
    own = sum(int(row[1]) for row in apps if row and row[0] == str(os.getpid()))
    return {"process_mib": own if card is not None else None,
            "card_used_mib": int(card[0][0]) if card else None, "card_total_mib": int(card[0][1]) if card else None}


def device_free() -> list[dict]:
    """Free and total memory of each device llama.cpp sees, in MiB."""
    from esmc_desktop.mllm.gpu import devices

    return [{"name": d.name, "kind": d.kind, "free_mib": d.free_bytes >> 20, "total_mib": d.total_bytes >> 20}
            for d in devices()]


def _mmproj_on_cpu() -> None:
    """Keep the mmproj on the CPU while the LM is offloaded (the product ties both to --gpu-layers)."""
    from llama_cpp import mtmd_cpp

    init = mtmd_cpp.mtmd_init_from_file

    def on_cpu(path, model, params):
        params.use_gpu = False
        return init(path, model, params)

    mtmd_cpp.mtmd_init_from_file = on_cpu


def measure_child(lm: str, mmproj: str, gpu_layers: int, mmproj_gpu: bool, early_stop: bool, threads: int,
                  n_photos: int) -> dict:
    """In its own process: load, photos/s for 1 and 3 criteria, memory. One JSON line on stdout."""
    from esmc_desktop.mllm.runtime import LlavaRuntime

    if not mmproj_gpu:
        _mmproj_on_cpu()
    images = photos(n_photos)
    before = gpu_memory()
    t0 = time.perf_counter()
    rt = LlavaRuntime(lm, mmproj, n_threads=threads, n_gpu_layers=gpu_layers, early_stop=early_stop)
    rt.set_layers([read_block(rt.n_layer)])
    load = time.perf_counter() - t0
    after_load = gpu_memory()
    rt.run(images[0], PROMPTS[:1])  # warm-up: first-use kernels and buffers
    result = {"load_s": round(load, 2), "n_layer": rt.n_layer, "n_ctx": rt.n_ctx, "gpu_before_load": before,
              "gpu_after_load": after_load}
    for n_criteria in (1, 3):
        t0 = time.perf_counter()
        for image in images:
            rt.run(image, PROMPTS[:n_criteria])
        result[f"photos_per_s_{n_criteria}"] = round(len(images) / (time.perf_counter() - t0), 3)
    result["gpu_after_runs"] = gpu_memory()
    result["devices"] = device_free()
    result["early_stopped_runs"] = rt.stats.early_stopped_runs
    result["runs"] = 2 * len(images) + 1
    rt.close()
    return result


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each pair of rows (last axis)."""
    a, b = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def parity(bundle: Path, log) -> bool:
    """The GPU build's hidden states against the CPU build's (every block), and one block with the early stop."""
    import gpu_bundle
    from esmc_desktop.mllm.registry import demo_entry
    from esmc_desktop.mllm.runtime import LlavaRuntime

    reference = np.load(bundle / "cpu_reference.npz")
    ok = True
    for name, layers in (("all layers and the mmproj on the GPU", ALL_LAYERS), ("this build, on its CPU", 0)):
        worst = min(float(cosines(states, reference[key]).min())
                    for key, states in gpu_bundle.hidden_states(layers).items())
        ok &= worst >= PARITY_MIN_COSINE
        log({"step": "parity", "config": name, "min_cosine": round(worst, 6), "pass": worst >= PARITY_MIN_COSINE})
    demo = demo_entry()
    rt = LlavaRuntime(demo.lm, demo.mmproj, n_threads=2, n_gpu_layers=ALL_LAYERS, early_stop=True)
    block = read_block(rt.n_layer)
    rt.set_layers([block])
    worst = 1.0
    for i, image in enumerate(gpu_bundle.reference_images()):
        for j, prompt in enumerate(rt.run(image, gpu_bundle.REFERENCE_PROMPTS).prompts):
            worst = min(worst, float(cosines(prompt.layer(block), reference[f"image{i}_prompt{j}"][block]).min()))
    stopped = rt.stats.early_stopped_runs
    rt.close()
    ok &= worst >= PARITY_MIN_COSINE
    log({"step": "parity", "config": f"block {block} only, early stop on, on the GPU", "min_cosine": round(worst, 6),
         "pass": worst >= PARITY_MIN_COSINE, "early_stopped_runs": stopped})
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esmc-gpu-check/models"))
    parser.add_argument("--steps", default="parity,write,quantize,measure")
    parser.add_argument("--shape", choices=("7b", "small"), default="7b")
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bundle", type=Path, default=REPO / "gpu_bundle")
    parser.add_argument("--configs", default=",".join(str(i) for i in range(len(CONFIGS))),
                        help="which measurements, by index: " + "; ".join(f"{i} {n}" for i, n in enumerate(CONFIGS)))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    results = args.out / "results.jsonl"

    def log(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with results.open("a") as f:
            f.write(json.dumps(record) + "\n")

    shape = shape_module(args.shape)
    stem = "llava7b-shape" if args.shape == "7b" else "llava-small-shape"
    f16, q4, mmproj = (args.workdir / f"{stem}-{s}.gguf" for s in ("f16", "Q4_K_M", "mmproj-f16"))
    if "parity" in steps:
        t0 = time.perf_counter()
        passed = parity(args.bundle, log)
        log({"step": "parity", "pass": passed, "seconds": round(time.perf_counter() - t0, 1)})
    if "write" in steps:
        for path, write in ((mmproj, shape.write_mmproj), (f16, shape.write_lm)):
            if path.is_file():
                continue
            t0 = time.perf_counter()
            write(path.with_suffix(".partial"))
            path.with_suffix(".partial").rename(path)
            log({"step": "write", "file": path.name, "gib": round(path.stat().st_size / 2**30, 2),
                 "seconds": round(time.perf_counter() - t0, 1)})
    if "quantize" in steps and not q4.is_file():
        from esmc_desktop.mllm.quantize import quantize

        t0 = time.perf_counter()
        quantize(f16, q4.with_suffix(".partial"), "Q4_K_M", threads=args.threads)
        q4.with_suffix(".partial").rename(q4)
        log({"step": "quantize", "file": q4.name, "gib": round(q4.stat().st_size / 2**30, 2),
             "threads": args.threads, "seconds": round(time.perf_counter() - t0, 1)})
    if "measure" in steps:
        names = list(CONFIGS)
        for index in (int(i) for i in args.configs.split(",")):
            name = names[index]
            layers, mmproj_gpu, early_stop = CONFIGS[name]
            n_photos = args.photos if layers else max(2, args.photos // 16)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", str(q4), str(mmproj), str(layers),
                                  str(int(mmproj_gpu)), str(int(early_stop)), str(args.threads), str(n_photos)],
                                 capture_output=True, text=True, cwd=REPO)
            record = {"step": "measure", "config": name, "shape": args.shape, "photos": n_photos,
                      "seconds": round(time.perf_counter() - t0, 1)}
            if out.returncode == 0:
                record.update(json.loads(out.stdout.strip().splitlines()[-1]))
            else:
                record.update({"died": out.returncode, "stderr": out.stderr[-2000:]})
            log(record)
    write_summary(results, args.out / "summary.md")


def used_mib(record: dict) -> int | None:
    """GPU memory the measured process held: nvidia-smi's own figure, else the card's growth since before the load
    (in a container nvidia-smi may list processes by the host's ids, which this process cannot match)."""
    after, before = record.get("gpu_after_runs") or {}, record.get("gpu_before_load") or {}
    if after.get("process_mib"):
        return after["process_mib"]
    if after.get("card_used_mib") is not None and before.get("card_used_mib") is not None:
        return after["card_used_mib"] - before["card_used_mib"]
    return None


def write_summary(results: Path, dest: Path) -> None:
    """The table the README takes, from results.jsonl."""
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    lines = ["| configuration | load s | photos/s, 1 criterion | photos/s, 3 criteria | GPU MiB (process) "
             "| early-stopped runs |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("step") == "measure" and "load_s" in r:
            gpu = used_mib(r)
            lines.append(f"| {r['config']} ({r['shape']}) | {r['load_s']} | {r['photos_per_s_1']} | "
                         f"{r['photos_per_s_3']} | {gpu if gpu is not None else 'n/a'} | "
                         f"{r['early_stopped_runs']} of {r['runs']} |")
        elif r.get("step") == "measure":
            lines.append(f"| {r['config']} ({r['shape']}) | died (exit {r['died']}) | | | | |")
    lines += [""] + [f"- {r['step']}: {json.dumps({k: v for k, v in r.items() if k != 'step'})}"
                     for r in rows if r.get("step") != "measure"]
    dest.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        a = sys.argv[2:]
        print(json.dumps(measure_child(a[0], a[1], int(a[2]), a[3] == "1", a[4] == "1", int(a[5]), int(a[6]))))
    else:
        main()
