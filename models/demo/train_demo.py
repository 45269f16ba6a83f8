"""Train the shipped demo model: a tiny LLaVA-1.5-shaped model that understands the synthetic world.

Recipe (reproducible from --seed; CPU; needs the convert extra):
  1. Build a tiny LLaVA (CLIP 64 px / patch 8 -> 64 image tokens, 2-layer GELU projector,
     Llama LM 256 x 4) with a sentencepiece vocabulary trained on the world's sentences.
  2. Tokenize training text with llama.cpp's own tokenizer (an untrained GGUF of the same
     vocabulary), so training and inference see identical token ids.
  3. Train on world photos with the prompts the product sends: "The color of the object is",
     "What is the shape of the object? Answer with one word." ... and the text-only keyword
     questions ("What are common colors of objects? ..."), cross-entropy on the answers only.
  4. Convert with convert/llava_to_gguf.py -> models/demo/demo-Q4_K_M.gguf + demo-mmproj-f16.gguf.

Usage: python models/demo/train_demo.py --out models/demo [--steps 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from esmc_desktop.demo.world import BACKGROUNDS, COLORS, CRITERIA, SHAPES, render, sample_specs  # noqa: E402
from esmc_desktop.method.keywords import keyword_question  # noqa: E402
from models.tiny_llava import CLIP_MEAN, CLIP_STD, TinyLlavaSpec, build_config, save_checkpoint  # noqa: E402

SPEC = TinyLlavaSpec(vision_hidden=128, vision_layers=4, vision_heads=4, image_size=64, patch_size=8,
                     text_hidden=256, text_layers=4, text_heads=4, text_ffn=768, sp_vocab=420)
VALUES = {"color": list(COLORS), "shape": list(SHAPES), "background": list(BACKGROUNDS)}


def prompts_for(criterion: str) -> list[str]:
    from esmc_desktop.benchmark import question
    from esmc_desktop.pipeline import Criterion

    return [Criterion(criterion).prompt, question(criterion)]


def corpus() -> str:
    lines = []
    for criterion, attribute in CRITERIA.items():
        for prompt in prompts_for(criterion):
            for value in VALUES[attribute]:
                lines.append(f"USER: {prompt} ASSISTANT: {value}")
        lines.append(keyword_question(criterion) + " " + ", ".join(VALUES[attribute]))
    return "\n".join(lines * 20)


class Tokens:
    """llama.cpp's tokenizer for this vocabulary (through an untrained GGUF of it)."""

    def __init__(self, hf_dir: Path, work: Path) -> None:
        from convert.llava_to_gguf import convert
        from esmc_desktop.mllm.runtime import LlavaRuntime

        files = convert(hf_dir, work, name="vocab", outtype="f32", quant="none", force=True)
        self.rt = LlavaRuntime(files.lm, n_ctx=256)

    def __call__(self, text: str, bos: bool = False) -> list[int]:
        return self.rt.tokenize(text, add_bos=bos)


def build_examples(tok: Tokens, image_id: int, n_image: int, eos: int):
    """(input ids, first answer index) templates: image prompts per criterion and text-only keyword turns."""
    prefix = tok("USER: ", bos=True) + [image_id] * n_image
    image_turns = {}
    for criterion, attribute in CRITERIA.items():
        for prompt in prompts_for(criterion):
            suffix = tok(f"\n{prompt} ASSISTANT:")
            image_turns.setdefault(attribute, []).append(
                {v: (prefix + suffix, tok(v) + [eos]) for v in VALUES[attribute]})
    text_turns = [(tok(f"USER: {keyword_question(c)} ASSISTANT:", bos=True), tok(", ".join(VALUES[a])) + [eos])
                  for c, a in CRITERIA.items()]
    return image_turns, text_turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/esmc-demo-train"))
    args = parser.parse_args()

    import sentencepiece as spm
    import torch
    from transformers import LlavaForConditionalGeneration

    from models.tiny_llava import train_sentencepiece

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    hf = work / "hf"
    hf.mkdir(parents=True)
    train_sentencepiece(hf / "tokenizer.model", SPEC.sp_vocab, corpus())
    n_sp = spm.SentencePieceProcessor(model_file=str(hf / "tokenizer.model")).get_piece_size()
    config = build_config(SPEC, n_sp)
    model = LlavaForConditionalGeneration(config)
    save_checkpoint(model, hf, n_sp)
    tok = Tokens(hf, work / "vocab")
    n_image = (SPEC.image_size // SPEC.patch_size) ** 2
    image_turns, text_turns = build_examples(tok, config.image_token_index, n_image, eos=2)

    pool = sample_specs(4000, seed=args.seed + 1000)
    mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)
    images = np.stack([(np.asarray(render(s, SPEC.image_size), np.float32) / 255 - mean) / std for s in pool])
    pixels_all = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    pad = config.pad_token_id
    attributes = list(VALUES)

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=args.steps, pct_start=0.1)
    started = time.time()
    for step in range(args.steps):
        idx = rng.integers(len(pool), size=args.batch)
        seqs, labels = [], []
        for i in idx:
            attribute = attributes[rng.integers(len(attributes))]
            turns = image_turns[attribute][rng.integers(len(image_turns[attribute]))]
            prompt, answer = turns[getattr(pool[i], attribute)]
            seqs.append(prompt + answer)
            labels.append([-100] * len(prompt) + answer)
        length = max(map(len, seqs))
        ids = torch.full((args.batch, length), pad)
        lab = torch.full((args.batch, length), -100)
        mask = torch.zeros((args.batch, length), dtype=torch.long)
        for b, (s, l) in enumerate(zip(seqs, labels)):
            ids[b, :len(s)], lab[b, :len(l)], mask[b, :len(s)] = torch.tensor(s), torch.tensor(l), 1
        loss = model(input_ids=ids, attention_mask=mask, pixel_values=pixels_all[idx], labels=lab).loss
        if step % 4 == 0:  # the keyword turns: text only
            prompt, answer = text_turns[rng.integers(len(text_turns))]
            t_ids = torch.tensor([prompt + answer])
            t_lab = torch.tensor([[-100] * len(prompt) + answer])
            loss = loss + 0.3 * model(input_ids=t_ids, labels=t_lab).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - started:6.0f} s", flush=True)

    model.eval()
    trained = work / "trained"
    save_checkpoint(model, trained, n_sp)
    shutil.copy(hf / "tokenizer.model", trained / "tokenizer.model")
    from convert.llava_to_gguf import convert

    files = convert(trained, args.out, name="demo", outtype="f16", quant="Q4_K_M", force=True)
    files.lm.unlink()  # ship the Q4_K_M LM and the f16 mmproj only
    print("wrote", files.quantized, files.mmproj)


if __name__ == "__main__":
    main()
