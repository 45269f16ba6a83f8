"""Throughput: ESMC's reference pipeline (transformers, one full forward per criterion with all
hidden states) against ours (llama.cpp, image decoded once, criteria sharing its prefix), same photos.

Usage: python benchmarks/reference_throughput.py --hf HF_DIR --model LM.gguf --mmproj MMPROJ.gguf [--photos 40]

HF_DIR is the llava-hf checkpoint the GGUF files were converted from (train_demo.py leaves it in
its --work folder as trained/). Both sides use 2 threads and the three world criteria.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from esmc_desktop.demo.world import CRITERIA, render, sample_specs  # noqa: E402
from esmc_desktop.engine.types import Criterion  # noqa: E402
from models.tiny_llava import CLIP_MEAN, CLIP_STD  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--mmproj", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import LlavaForConditionalGeneration

    from esmc_desktop.mllm.logit_lens import LogitLens
    from esmc_desktop.mllm.runtime import LlavaRuntime

    torch.set_num_threads(args.threads)
    prompts = [Criterion(c).prompt for c in CRITERIA]
    with LlavaRuntime(args.model, args.mmproj, n_ctx=512, n_threads=args.threads) as rt:
        probe = rt.run(np.zeros((8, 8, 3), np.uint8), prompts)
        prefix, n_image = probe.prefix_ids, probe.n_image_tokens
        suffixes = [p.token_ids for p in probe.prompts]
    model = LlavaForConditionalGeneration.from_pretrained(args.hf, torch_dtype=torch.float32).eval()
    image_size = model.config.vision_config.image_size
    images = [np.asarray(render(s, 128).resize((image_size, image_size))) for s in sample_specs(args.photos, seed=11)]
    lens = LogitLens.from_gguf(args.model)
    head = model.lm_head.weight.detach()

    t0 = time.perf_counter()
    with torch.no_grad():
        for img in images:
            x = (img.astype(np.float32) / 255 - CLIP_MEAN) / CLIP_STD
            pixels = torch.from_numpy(x.transpose(2, 0, 1)[None].copy())
            for suffix in suffixes:
                ids = torch.tensor([prefix + [model.config.image_token_index] * n_image + suffix])
                out = model(input_ids=ids, pixel_values=pixels, output_hidden_states=True)
                hidden = torch.stack(out.hidden_states[1:])[:, 0, -len(suffix):]
                torch.softmax(hidden @ head.T, dim=-1).topk(50)
    reference = len(images) / (time.perf_counter() - t0)

    with LlavaRuntime(args.model, args.mmproj, n_ctx=512, n_threads=args.threads) as rt:
        rt.run(images[0], prompts)
        t0 = time.perf_counter()
        for img in images:
            for states in rt.run(img, prompts).prompts:
                lens.project(states.hidden, rt.layers)
        ours_all = len(images) / (time.perf_counter() - t0)
        rt.set_layers([rt.n_layer - 1])
        t0 = time.perf_counter()
        for img in images:
            for states in rt.run(img, prompts).prompts:
                lens.project(states.hidden[:, -1], rt.layers)
        ours_target = len(images) / (time.perf_counter() - t0)
    print(f"{len(images)} photos x {len(prompts)} criteria, {args.threads} threads")
    print(f"reference (transformers f32, one forward per criterion, all layers): {reference:6.2f} photos/s")
    print(f"ours (llama.cpp Q4_K_M, shared prefix, all layers + lens):          {ours_all:6.2f} photos/s "
          f"({ours_all / reference:.2f}x)")
    print(f"ours (as the pipeline runs: one target layer and position):          {ours_target:6.2f} photos/s "
          f"({ours_target / reference:.2f}x)")


if __name__ == "__main__":
    main()
