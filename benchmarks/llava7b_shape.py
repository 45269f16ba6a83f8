"""Figures for the real shape: a LLaVA-1.5-7b-shaped pair with random weights, through the real pipeline.

Usage: python benchmarks/llava7b_shape.py [--workdir /work/bigmodels] [--threads 2] [--photos 8]
       [--steps write,quantize,runtime,choose,memory,cluster] [--criteria 1,3] [--mmproj-q8]

write:    the LM (4096 wide, 32 blocks, FFN 11008, vocab 32000; f16, about 13 GB) and the mmproj
          (CLIP ViT-L/14-336: 24 blocks, 576 patches, MLP projector 1024 -> 4096 -> 4096; f16) with
          gguf-py, one tensor at a time (peak memory: the largest tensor, not the model). The
          tokenizer is the demo model's, padded with unused tokens to 32000.
quantize: the LM to Q4_K_M with our quantizer (llama.cpp's).
runtime:  LlavaRuntime load time, seconds per photo for 1 and 3 criteria, peak RSS, each with the
          weights used from the mapped file and repacked by llama.cpp for this CPU (file read, not mapped);
          then the product's own per-machine choice between the two (mllm/weight_layout.py) and its cost.
memory:   RSS stage by stage (lens, runtime, a photo at full depth through the lens) and llama.cpp's buffer
          sizes, for 1 and 3 criteria (--criteria).
cluster:  `esmc-desktop cluster` on --photos generated photos (the CPU weight layout as chosen), with 1
          and 3 criteria (--criteria): wall time, model runs per photo, peak RSS of the whole process as
          /usr/bin/time -v reports it (--mmproj-q8: with the mmproj quantized to Q8_0).
Each measurement runs in its own process; peak RSS is that process's own (VmHWM). Random weights
compute exactly like real ones, so times and memory carry over; the clusters mean nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

LM = dict(n_embd=4096, n_layer=32, n_ff=11008, n_head=32, n_vocab=32000, n_ctx=4096)
VISION = dict(n_embd=1024, n_layer=24, n_ff=4096, n_head=16, image=336, patch=14)
PROMPTS = ["The color of the object is", "The shape of the object is", "The background of the photo is"]


_POOL = 1 << 26  # random values drawn once; each weight tensor copies slices of them from random offsets


def _random_writer(path: Path, arch: str, tensors: list[tuple[str, tuple[int, ...], type]], setup) -> None:
    """Write a GGUF one tensor at a time: N(0, 0.02) weights, unit norms, zero biases.

    Drawing 7 billion normal values would cost minutes of CPU on a shared machine; slices of one
    drawn pool cost a memory copy, and the time and memory of what runs on them are the same.
    """
    import gguf

    rng = np.random.default_rng(0)
    pool = (rng.standard_normal(2 * _POOL, np.float32) * 0.02)
    writer = gguf.GGUFWriter(path, arch=arch)
    setup(writer)
    tensors = sorted(tensors)
    for name, shape, dtype in tensors:
        writer.add_tensor_info(name, shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name, shape, dtype in tensors:
        if name.endswith("bias"):
            data = np.zeros(shape, dtype)
        elif len(shape) == 1 and not name.endswith("class_embd"):
            data = np.ones(shape, dtype)
        else:
            data = np.empty(shape, dtype)
            flat = data.reshape(-1)
            for start in range(0, flat.size, _POOL):
                part = flat[start:start + _POOL]
                offset = int(rng.integers(_POOL))
                part[:] = pool[offset:offset + part.size]
        writer.write_tensor_data(data)
        del data
    writer.close()


def write_lm(path: Path) -> None:
    import gguf

    d, f, v = LM["n_embd"], LM["n_ff"], LM["n_vocab"]
    tensors = [("token_embd.weight", (v, d), np.float16), ("output.weight", (v, d), np.float16),
               ("output_norm.weight", (d,), np.float32)]
    for i in range(LM["n_layer"]):
        tensors += [(f"blk.{i}.attn_{x}.weight", (d, d), np.float16) for x in ("q", "k", "v", "output")]
        tensors += [(f"blk.{i}.ffn_gate.weight", (f, d), np.float16), (f"blk.{i}.ffn_up.weight", (f, d), np.float16),
                    (f"blk.{i}.ffn_down.weight", (d, f), np.float16),
                    (f"blk.{i}.attn_norm.weight", (d,), np.float32), (f"blk.{i}.ffn_norm.weight", (d,), np.float32)]
    from esmc_desktop.mllm.registry import demo_entry

    demo = gguf.GGUFReader(demo_entry().lm)

    def field(name):
        return demo.fields[name]

    tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]) for i in field("tokenizer.ggml.tokens").data]
    scores = [float(field("tokenizer.ggml.scores").parts[i][0]) for i in field("tokenizer.ggml.scores").data]
    types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    n_real = len(tokens)
    tokens += [f"<unused{i}>".encode() for i in range(n_real, v)]
    scores += [-1e4] * (v - n_real)
    types += [int(gguf.TokenType.UNUSED)] * (v - n_real)

    def setup(w) -> None:
        w.add_name("llava-1.5-7b-shape (random)")
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        w.add_context_length(LM["n_ctx"])
        w.add_embedding_length(d)
        w.add_block_count(LM["n_layer"])
        w.add_feed_forward_length(f)
        w.add_head_count(LM["n_head"])
        w.add_head_count_kv(LM["n_head"])
        w.add_rope_dimension_count(d // LM["n_head"])
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(10000.0)
        w.add_vocab_size(v)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)

    _random_writer(path, "llama", tensors, setup)


def write_mmproj(path: Path) -> None:
    import gguf

    e, f, p, s = VISION["n_embd"], VISION["n_ff"], VISION["patch"], VISION["image"]
    d = LM["n_embd"]
    n_pos = (s // p) ** 2 + 1
    tensors = [("v.patch_embd.weight", (e, 3, p, p), np.float16), ("v.position_embd.weight", (n_pos, e), np.float32),
               ("v.class_embd", (e,), np.float32), ("v.pre_ln.weight", (e,), np.float32),
               ("v.pre_ln.bias", (e,), np.float32), ("mm.0.weight", (d, e), np.float16),
               ("mm.0.bias", (d,), np.float32), ("mm.2.weight", (d, d), np.float16), ("mm.2.bias", (d,), np.float32)]
    for i in range(VISION["n_layer"]):
        for x in ("q", "k", "v", "out"):
            tensors += [(f"v.blk.{i}.attn_{x}.weight", (e, e), np.float16), (f"v.blk.{i}.attn_{x}.bias", (e,), np.float32)]
        tensors += [(f"v.blk.{i}.ffn_up.weight", (f, e), np.float16), (f"v.blk.{i}.ffn_up.bias", (f,), np.float32),
                    (f"v.blk.{i}.ffn_down.weight", (e, f), np.float16), (f"v.blk.{i}.ffn_down.bias", (e,), np.float32)]
        tensors += [(f"v.blk.{i}.ln{k}.{x}", (e,), np.float32) for k in (1, 2) for x in ("weight", "bias")]

    def setup(w) -> None:
        w.add_type(gguf.GGUFType.MMPROJ)
        w.add_name("llava-1.5-7b-shape (random) mmproj")
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        w.add_clip_has_vision_encoder(True)
        w.add_clip_projector_type("mlp")
        w.add_vision_projection_dim(d)
        w.add_vision_image_size(s)
        w.add_vision_patch_size(p)
        w.add_vision_embedding_length(e)
        w.add_vision_feed_forward_length(f)
        w.add_vision_block_count(VISION["n_layer"])
        w.add_vision_head_count(VISION["n_head"])
        w.add_vision_attention_layernorm_eps(1e-5)
        w.add_vision_image_mean([0.48145466, 0.4578275, 0.40821073])
        w.add_vision_image_std([0.26862954, 0.26130258, 0.27577711])
        w.add_vision_use_gelu(False)

    _random_writer(path, "clip", tensors, setup)


def photo(i: int):
    """A 24 MP photo-like image of the demo world, as a camera would write it."""
    from PIL import Image

    from esmc_desktop.demo.world import render, sample_specs

    spec = sample_specs(i + 1, seed=3)[i]
    return render(spec, 1024).resize((6000, 4000), Image.BICUBIC)


def runtime_child(lm: str, mmproj: str, threads: int, layout: str, n_photos: int) -> None:
    """In its own process: load, then seconds per photo for 1 and 3 prompts, then this process's peak RSS."""
    from esmc_desktop.mllm.runtime import LlavaRuntime
    from esmc_desktop.mllm.weight_layout import peak_rss_bytes
    from esmc_desktop.photos.decode import load_rgb

    folder = Path(lm).parent / "photos"
    images = [load_rgb(p, min_side=VISION["image"]) for p in sorted(folder.glob("*.jpg"))[:n_photos]]
    t0 = time.perf_counter()
    rt = LlavaRuntime(lm, mmproj, n_threads=threads, weights=layout, layers=[25])
    load = time.perf_counter() - t0
    rss_loaded = peak_rss_bytes() // 1024
    times = {}
    for n_prompts in (1, 3):
        t0 = time.perf_counter()
        for image in images:
            rt.run(image, PROMPTS[:n_prompts])
        times[n_prompts] = (time.perf_counter() - t0) / len(images)
    rt.set_layers(None)  # full depth, as localization runs its samples
    t0 = time.perf_counter()
    rt.run(images[0], PROMPTS[:1])
    full = time.perf_counter() - t0
    print(json.dumps({"load_s": load, "s_per_photo_1": times[1], "s_per_photo_3": times[3], "full_depth_1": full,
                      "n_ctx": rt.n_ctx, "rss_after_load_kb": rss_loaded,
                      "rss_peak_kb": peak_rss_bytes() // 1024}))


def _rss() -> dict:
    """This process's RSS now and at its peak, and the part of it that is file pages (mapped weights)."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 2**20
    return fields


def memory_child(lm: str, mmproj: str, threads: int, n_prompts: int) -> None:
    """In its own process, what the cluster command holds, stage by stage: the lens, the runtime (context
    sized for n_prompts), one photo at full depth with the lens on every block (as localization reads it).
    llama.cpp's own buffer sizes come from its log."""
    import logging

    from esmc_desktop.mllm.logit_lens import LogitLens
    from esmc_desktop.mllm.runtime import LlavaRuntime
    from esmc_desktop.photos.decode import load_rgb

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if "buffer size" in text or "KV self size" in text or "model size" in text:
                said.append(" ".join(text.split()))

    logging.getLogger("esmc_desktop.llama_cpp").addHandler(Keep())
    logging.getLogger("esmc_desktop.llama_cpp").setLevel(logging.DEBUG)
    image = load_rgb(sorted((Path(lm).parent / "photos").glob("*.jpg"))[0], min_side=VISION["image"])
    stages = {"imports": _rss()}
    lens = LogitLens.from_gguf(lm)
    stages["lens"] = _rss()
    rt = LlavaRuntime(lm, mmproj, n_threads=threads, max_prompts=n_prompts)
    stages["runtime"] = _rss()
    run = rt.run(image, PROMPTS[:n_prompts])
    for p in run.prompts:
        lens.project(p.hidden, rt.layers)
    stages["photo, full depth + lens"] = _rss()
    print(json.dumps({"n_ctx": rt.n_ctx, "stages": stages, "llama_cpp": said}))


def cluster_child(args: list[str]) -> None:
    from esmc_desktop.cli import main
    from esmc_desktop.mllm.weight_layout import peak_rss_bytes

    t0 = time.perf_counter()
    code = main(args)
    print(json.dumps({"code": code, "wall_s": time.perf_counter() - t0, "rss_peak_kb": peak_rss_bytes() // 1024}),
          file=sys.stderr)


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        return {"died": out.returncode, "stderr": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/work/bigmodels"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--runtime-photos", type=int, default=2)
    parser.add_argument("--steps", default="write,quantize,runtime,choose,memory,cluster")
    parser.add_argument("--criteria", default="1,3", help="the cluster step's runs: how many criteria each")
    parser.add_argument("--mmproj-q8", action="store_true", help="the cluster step with the mmproj in Q8_0")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    w = args.workdir
    w.mkdir(parents=True, exist_ok=True)
    f16, q4, mmproj = w / "llava7b-shape-f16.gguf", w / "llava7b-shape-Q4_K_M.gguf", w / "llava7b-shape-mmproj-f16.gguf"
    if "write" in steps:
        for path, write in ((mmproj, write_mmproj), (f16, write_lm)):
            if not path.is_file():
                t0 = time.perf_counter()
                partial = path.with_suffix(".partial")
                write(partial)
                partial.rename(path)
                print(f"wrote {path.name}: {path.stat().st_size / 2**30:.2f} GiB in {time.perf_counter() - t0:.0f} s, "
                      f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB",
                      flush=True)
    if "quantize" in steps and not q4.is_file():
        from esmc_desktop.mllm.quantize import quantize

        t0 = time.perf_counter()
        quantize(f16, q4.with_suffix(".partial"), "Q4_K_M", threads=args.threads)
        q4.with_suffix(".partial").rename(q4)
        print(f"quantized to {q4.name}: {q4.stat().st_size / 2**30:.2f} GiB in {time.perf_counter() - t0:.0f} s",
              flush=True)
    from esmc_desktop.mllm.weight_layout import choose_layout

    photos = w / "photos"
    if not photos.is_dir() or len(list(photos.glob("*.jpg"))) < args.photos:
        photos.mkdir(exist_ok=True)
        for i in range(args.photos):
            photo(i).save(photos / f"IMG_{i:04d}.jpg", quality=92)
    if "runtime" in steps:
        for layout in ("mapped", "repacked"):
            r = _child("--runtime-child", str(q4), str(mmproj), str(args.threads), layout, str(args.runtime_photos))
            if "died" in r:
                print(f"LlavaRuntime, {layout} weights: the process died (exit status {r['died']})", flush=True)
                continue
            print(f"LlavaRuntime, {layout} weights, {args.threads} threads, "
                  f"n_ctx {r['n_ctx']}, reading block 25 of 32: load {r['load_s']:.1f} s; "
                  f"{r['s_per_photo_1']:.1f} s/photo with 1 criterion, {r['s_per_photo_3']:.1f} s with 3; "
                  f"full depth {r['full_depth_1']:.1f} s; RSS after load {r['rss_after_load_kb'] / 2**20:.2f} GiB, "
                  f"peak {r['rss_peak_kb'] / 2**20:.2f} GiB", flush=True)
    if "choose" in steps:
        t0 = time.perf_counter()
        verdict = choose_layout(q4, args.threads, cache_file=w / "cpu-weights.json")
        print(f"the product's choice ({time.perf_counter() - t0:.0f} s): {verdict.sentence()}", flush=True)
        for trial in verdict.trials:
            print(f"  {trial.describe()}", flush=True)
    if "memory" in steps:
        for n in (int(c) for c in args.criteria.split(",")):
            r = _child("--memory-child", str(q4), str(mmproj), str(args.threads), str(n))
            if "died" in r:
                print(f"memory, {n} criteria: the process died (exit status {r['died']}): {r['stderr']}", flush=True)
                continue
            print(f"memory by stage, {n} criteria, n_ctx {r['n_ctx']} (GiB: RSS now / peak so far / of it file pages):",
                  flush=True)
            for stage, f in r["stages"].items():
                print(f"  {stage:26s} {f['VmRSS']:.2f} / {f['VmHWM']:.2f} / {f['RssFile']:.2f}", flush=True)
            for line in r["llama_cpp"]:
                print(f"  llama.cpp: {line}", flush=True)
    if "cluster" in steps:
        layout = choose_layout(q4, args.threads, cache_file=w / "cpu-weights.json").layout
        for n in (int(c) for c in args.criteria.split(",")):
            r = cluster_run(w, q4, mmproj, args.threads, n, layout, mmproj_q8=args.mmproj_q8)
            print(f"esmc-desktop cluster, {r['photos']} photos, {n} criteria{', mmproj Q8_0' if args.mmproj_q8 else ''}: "
                  f"{r['wall_s']:.0f} s, {r['model_evaluations']} model runs ({r['model_evaluations'] / r['photos']:.2f} "
                  f"per photo), peak RSS {r['rss_peak_kb'] / 2**20:.2f} GiB "
                  f"(/usr/bin/time -v, whole process: {r['time_v_max_rss_kb'] / 2**20:.2f} GiB)", flush=True)


CRITERIA = [("color of the object", "red,green,blue"), ("shape of the object", "circle,square,triangle"),
            ("background of the photo", "sky,grass,sand")]


def cluster_run(w: Path, lm: Path, mmproj: Path, threads: int, n_criteria: int, layout: str,
                mmproj_q8: bool = False, photos: Path | None = None) -> dict:
    """`esmc-desktop cluster` on the photos in `photos` (w/photos) with the first n_criteria of CRITERIA, in its own
    process under /usr/bin/time -v: the CLI's summary, wall time, and the peak RSS both as the process
    reads it (VmHWM) and as /usr/bin/time -v reports it for the whole process."""
    if mmproj_q8:
        from esmc_desktop.mllm.quantize import quantize_mmproj

        q8 = w / "llava7b-shape-mmproj-Q8_0.gguf"
        if not q8.is_file():
            quantize_mmproj(mmproj, q8, "Q8_0")
        mmproj = q8
    args = [sys.executable, __file__, "--cluster-child", "cluster", str(photos or w / "photos")]
    for name, words in CRITERIA[:n_criteria]:
        args += ["--criterion", f"{name}:2", "--keywords", f"{name}={words}"]
    args += ["--model", str(lm), "--mmproj", str(mmproj), "--threads", str(threads), "--gpu-layers", "0",
             "--out", str(w / f"sorted-{time.time_ns()}"), "--cpu-weights", layout, "--cache", str(w / f"cache-{time.time_ns()}"),
             "--json", "--quiet"]
    out = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    summary = json.loads(out.stdout)
    lines = out.stderr.strip().splitlines()
    child = next(json.loads(line) for line in reversed(lines) if line.startswith("{"))
    max_rss = next(int(line.split(":")[1]) for line in lines if "Maximum resident set size" in line)
    return {"photos": summary["photos"], "model_evaluations": summary["model_evaluations"], "wall_s": child["wall_s"],
            "rss_peak_kb": child["rss_peak_kb"], "time_v_max_rss_kb": max_rss}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--runtime-child":
        runtime_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--cluster-child":
        cluster_child(sys.argv[2:])
    else:
        main()
