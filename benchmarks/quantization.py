"""Cheaper arithmetic where it is exact enough: quantizations of LLaVA's LM and mmproj, measured two ways.

Usage: python benchmarks/quantization.py [--steps agreement,lens,speed] [--workdir /work/bigmodels] [--threads 2]
       [--quants Q4_K_M,Q4_0,Q5_K_M,Q8_0] [--layouts mapped,repacked]

agreement: on the tiny random LLaVA the tests build and check against transformers (tests/conftest.py), the
           LM in f32, Q8_0, Q5_K_M, Q4_K_M and Q4_0 and the mmproj in f16 and Q8_0, each against the f16
           pair: cosine of the hidden states at every block at the prompt's tokens (what localization
           reads), and the logit lens on them (each file's own head, as the product reads it): share of
           the top-50 tokens in common and top-1 agreement. 4 photos x 2 prompts.
lens:      the logit lens on the 7B-shaped Q4_K_M head (Q6_K, 32000 x 4096): seconds for 1, 3 and 416 rows
           (416: one localization photo, 32 blocks x 13 tokens) read from the file (the product)
           and from an f32 copy in memory (the lens before), and whether the top-50 tokens are the same.
speed:     on the LLaVA-1.5-7b-shaped pair of benchmarks/llava7b_shape.py (its `write` step makes the f16
           LM; missing quantizations are made from it), per LM quantization and CPU weight layout, one
           child process each: load time, seconds for one photo with one criterion read at block 25
           (after one untimed photo: the first one pages the weights in) and the child's peak RSS; with
           the mmproj in f16 and, for Q4_K_M mapped, in Q8_0. Ratios are against Q4_K_M mapped measured in
           the same run (the machine is shared; only ratios carry over).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

LM_QUANTS = ("Q8_0", "Q5_K_M", "Q4_K_M", "Q4_0")
PROMPTS = ["The color of the object is", "The shape of the object is"]
BASE = ("Q4_K_M", "mapped", "f16")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def tiny_pair(workdir: Path) -> dict[str, Path]:
    """The tests' tiny LLaVA, converted (f32, f16) and quantized: name -> file."""
    from convert.llava_to_gguf import convert
    from esmc_desktop.mllm.quantize import quantize, quantize_mmproj
    from models.tiny_llava import TinyLlavaSpec, build_tiny_llava

    build_tiny_llava(workdir / "hf", TinyLlavaSpec())
    f32 = convert(workdir / "hf", workdir / "gguf", name="tiny", outtype="f32", quant="none")
    f16 = convert(workdir / "hf", workdir / "gguf", name="tiny", outtype="f16", quant="none")
    files = {"f32": f32.lm, "f16": f16.lm, "mmproj-f16": f16.mmproj}
    for q in LM_QUANTS:
        files[q] = workdir / "gguf" / f"tiny-{q}.gguf"
        quantize(f16.lm, files[q], q)
    files["mmproj-Q8_0"] = workdir / "gguf" / "tiny-mmproj-Q8_0.gguf"
    quantize_mmproj(f16.mmproj, files["mmproj-Q8_0"], "Q8_0")
    return files


def _read(lm: Path, mmproj: Path, images) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per photo and prompt: hidden states (blocks, tokens, width), their lens top-50 indices and values."""
    from esmc_desktop.mllm.logit_lens import LogitLens
    from esmc_desktop.mllm.runtime import LlavaRuntime

    lens = LogitLens.from_gguf(lm)
    states, idx, val = [], [], []
    with LlavaRuntime(lm, mmproj, n_threads=2, max_prompts=len(PROMPTS)) as rt:
        for image in images:
            for p in rt.run(image, PROMPTS).prompts:
                states.append(p.hidden)
                out = lens.project(p.hidden, rt.layers)
                idx.append(out.indices.reshape(*p.hidden.shape[:2], -1))
                val.append(out.values.reshape(*p.hidden.shape[:2], -1))
    return states, idx, val


def agreement(workdir: Path) -> list[dict]:
    from models.tiny_llava import sample_image

    files = tiny_pair(workdir)
    images = [sample_image(seed) for seed in range(4)]
    ref = _read(files["f16"], files["mmproj-f16"], images)
    rows = []
    for lm, mm in [("f32", "f16"), *[(q, "f16") for q in LM_QUANTS], ("f16", "Q8_0"), ("Q4_K_M", "Q8_0")]:
        got = _read(files[lm], files[f"mmproj-{mm}"], images)
        cos = np.concatenate([_cos(a, b).reshape(a.shape[0], -1) for a, b in zip(got[0], ref[0])], axis=1)
        shared = np.concatenate([np.array([[len(np.intersect1d(x, y)) / x.size for x, y in zip(bx, by)]
                                           for bx, by in zip(gx, gy)]) for gx, gy in zip(got[1], ref[1])], axis=1)
        top1 = np.concatenate([(gx[..., 0] == gy[..., 0]) for gx, gy in zip(got[1], ref[1])], axis=1)
        rows.append({"lm": lm, "mmproj": mm, "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                     "cos_min_per_block": [float(c) for c in cos.min(axis=1)],
                     "top50_shared_min": float(shared.min()), "top50_shared_mean": float(shared.mean()),
                     "top1_agree": float(top1.mean())})
        r = rows[-1]
        print(f"LM {lm:7s} mmproj {mm:4s} vs f16 pair: hidden-state cosine min {r['cos_min']:.5f} mean "
              f"{r['cos_mean']:.5f}; lens top-50 shared min {r['top50_shared_min']:.2f} mean "
              f"{r['top50_shared_mean']:.3f}; top-1 same {r['top1_agree']:.3f}", flush=True)
    return rows


def lens_cost(workdir: Path) -> list[dict]:
    from esmc_desktop.mllm.logit_lens import LogitLens

    lens = LogitLens.from_gguf(workdir / "llava7b-shape-Q4_K_M.gguf")
    w = np.empty(lens.head.shape, np.float32)
    for a in range(0, len(w), 1024):
        w[a:a + 1024] = lens.head.rows(a, min(a + 1024, len(w)))
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 3, 416):
        h = rng.standard_normal((n, w.shape[1])).astype(np.float32)
        t0 = time.perf_counter()
        before = np.sort(np.argpartition(-(h @ w.T), 49, axis=1)[:, :50], axis=1)
        t_f32 = time.perf_counter() - t0
        t0 = time.perf_counter()
        now = np.sort(lens.project(h, 0).indices, axis=1)
        t_mapped = time.perf_counter() - t0
        rows.append({"rows": n, "f32_s": t_f32, "file_s": t_mapped, "same_top50": bool((now == before).all())})
        print(f"lens, {n} rows: f32 in memory {t_f32:.2f} s, from the file {t_mapped:.2f} s ({t_mapped / t_f32:.1f}x); "
              f"same top-50: {rows[-1]['same_top50']}", flush=True)
    return rows


def speed_child(lm: str, mmproj: str, threads: int, layout: str) -> None:
    """In its own process: load, one untimed photo, one timed photo (1 criterion, block 25), peak RSS."""
    from esmc_desktop.mllm.runtime import LlavaRuntime
    from esmc_desktop.mllm.weight_layout import peak_rss_bytes
    from esmc_desktop.photos.decode import load_rgb

    images = [load_rgb(p, min_side=336) for p in sorted((Path(lm).parent / "photos").glob("*.jpg"))[:2]]
    t0 = time.perf_counter()
    rt = LlavaRuntime(lm, mmproj, n_threads=threads, weights=layout, layers=[25], max_prompts=1)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    rt.run(images[0], PROMPTS[:1])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    rt.run(images[1], PROMPTS[:1])
    print(json.dumps({"load_s": load, "first_s": first, "s_per_photo": time.perf_counter() - t0,
                      "rss_peak_kb": peak_rss_bytes() // 1024}))


def speed(workdir: Path, threads: int, quants: list[str], layouts: list[str]) -> list[dict]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from llava7b_shape import photo

    from esmc_desktop.mllm.quantize import quantize, quantize_mmproj

    photos = workdir / "photos"
    photos.mkdir(exist_ok=True)
    for i in range(2):
        if not (photos / f"IMG_{i:04d}.jpg").is_file():
            photo(i).save(photos / f"IMG_{i:04d}.jpg", quality=92)
    mmproj = {"f16": workdir / "llava7b-shape-mmproj-f16.gguf", "Q8_0": workdir / "llava7b-shape-mmproj-Q8_0.gguf"}
    if not mmproj["Q8_0"].is_file():
        quantize_mmproj(mmproj["f16"], mmproj["Q8_0"], "Q8_0")
    runs = [BASE] + [(q, lay, "f16") for q in quants for lay in layouts if (q, lay, "f16") != BASE]
    runs += [("Q4_K_M", "mapped", "Q8_0"), BASE]  # the baseline again at the end: how much the machine drifted
    rows = []
    for q, layout, mm in runs:
        lm = workdir / f"llava7b-shape-{q}.gguf"
        if not lm.is_file():
            t0 = time.perf_counter()
            quantize(workdir / "llava7b-shape-f16.gguf", lm.with_suffix(".partial"), q, threads=threads)
            lm.with_suffix(".partial").rename(lm)
            print(f"quantized {lm.name} in {time.perf_counter() - t0:.0f} s", flush=True)
        out = subprocess.run([sys.executable, __file__, "--speed-child", str(lm), str(mmproj[mm]), str(threads), layout],
                             capture_output=True, text=True, cwd=REPO)
        if out.returncode != 0:
            print(f"LM {q} {layout}, mmproj {mm}: the process died (exit status {out.returncode})", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1]) | {"lm": q, "layout": layout, "mmproj": mm,
                                                              "lm_gib": lm.stat().st_size / 2**30}
        rows.append(r)
        base = rows[0]
        print(f"LM {q:6s} {layout:8s} mmproj {mm:4s} ({r['lm_gib']:.2f} GiB): load {r['load_s']:.0f} s, "
              f"{r['s_per_photo']:.1f} s/photo ({r['s_per_photo'] / base['s_per_photo']:.2f}x Q4_K_M mapped), "
              f"peak RSS {r['rss_peak_kb'] / 2**20:.2f} GiB ({r['rss_peak_kb'] / base['rss_peak_kb']:.2f}x)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="agreement,lens,speed")
    parser.add_argument("--workdir", type=Path, default=Path("/work/bigmodels"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quants", default=",".join(LM_QUANTS))
    parser.add_argument("--layouts", default="mapped,repacked")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    figures = {}
    if "agreement" in steps:
        with tempfile.TemporaryDirectory() as tmp:
            figures["agreement"] = agreement(Path(tmp))
    if "lens" in steps:
        figures["lens"] = lens_cost(args.workdir)
    if "speed" in steps:
        figures["speed"] = speed(args.workdir, args.threads, args.quants.split(","), args.layouts.split(","))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--speed-child":
        speed_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
