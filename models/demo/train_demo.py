"""Train the shipped demo model: a tiny LLaVA-1.5-shaped model that understands the synthetic world.

Recipe (reproducible from --seed; needs the convert extra):
  1. prepare: build a tiny LLaVA (CLIP 64 px / patch 8 -> 64 image tokens, 2-layer GELU
     projector, Llama LM 256 x 4) with a sentencepiece vocabulary trained on the world's
     sentences, and tokenize every training turn with llama.cpp's own tokenizer (an untrained
     GGUF of the same vocabulary), so training and inference see identical token ids.
     Writes WORK/hf (the untrained checkpoint) and WORK/turns.json.
  2. train: first the vision tower alone, supervised on the world's attributes (standing in
     for CLIP's pre-training, which a LLaVA starts from); then, with the tower frozen as
     LLaVA-1.5 does, the projector and LM on world photos with the prompts the product sends
     ("The color of the object is", "What is the shape of the object? Answer with one
     word." ...) and the text-only keyword questions ("What are common colors of objects?
     ..."), cross-entropy on the answers only. Prints the answers' accuracy on unseen photos.
     Needs torch alone (not llama.cpp), so it can run on a GPU machine. Writes WORK/trained.
  3. convert: convert/llava_to_gguf.py -> OUT/demo-Q4_K_M.gguf + OUT/demo-mmproj-f16.gguf.

Usage: python models/demo/train_demo.py all --out esmc_desktop/demo/model [--steps N] [--device cuda]
       (or the stages one by one: prepare, train, convert; all take --work)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from esmc_desktop.demo.world import BACKGROUNDS, COLORS, CRITERIA, SHAPES, render, sample_specs  # noqa: E402
from models.tiny_llava import CLIP_MEAN, CLIP_STD, TinyLlavaSpec, build_config, save_checkpoint  # noqa: E402

SPEC = TinyLlavaSpec(vision_hidden=128, vision_layers=4, vision_heads=4, image_size=64, patch_size=8,
                     text_hidden=256, text_layers=4, text_heads=4, text_ffn=768, sp_vocab=700)
VALUES = {"color": list(COLORS), "shape": list(SHAPES), "background": list(BACKGROUNDS)}
POOL_SEED_OFFSET = 1000  # the training photos' seed is --seed + this; benchmarks use other seeds
CHECK_SEED_OFFSET = 2000  # photos for the accuracy printed after training


def prompts_for(criterion: str) -> list[str]:
    from esmc_desktop.benchmark import question
    from esmc_desktop.pipeline import Criterion

    return [Criterion(criterion).prompt, question(criterion)]


def corpus() -> str:
    from esmc_desktop.method.keywords import keyword_question

    lines = []
    for criterion, attribute in CRITERIA.items():
        for prompt in prompts_for(criterion):
            for value in VALUES[attribute]:
                lines.append(f"USER: {prompt} ASSISTANT: {value}")
        lines.append(keyword_question(criterion) + " " + ", ".join(VALUES[attribute]))
    return "\n".join(lines * 20)


def tokenized_turns(hf_dir: Path, work: Path, image_id: int, n_image: int, eos: int) -> dict:
    """Every training turn as llama.cpp token ids: image prompts per attribute value, and the keyword turns."""
    from convert.llava_to_gguf import convert
    from esmc_desktop.method.keywords import keyword_question
    from esmc_desktop.mllm.runtime import LlavaRuntime

    files = convert(hf_dir, work, name="vocab", outtype="f32", quant="none", force=True)
    runtime = LlavaRuntime(files.lm, n_ctx=256)
    try:
        def tok(text: str, bos: bool = False) -> list[int]:
            return runtime.tokenize(text, add_bos=bos)

        prefix = tok("USER: ", bos=True) + [image_id] * n_image
        image_turns: dict[str, list[dict[str, list[list[int]]]]] = {}
        for criterion, attribute in CRITERIA.items():
            for prompt in prompts_for(criterion):
                suffix = tok(f"\n{prompt} ASSISTANT:")
                image_turns.setdefault(attribute, []).append(
                    {v: [prefix + suffix, tok(v) + [eos]] for v in VALUES[attribute]})
        text_turns = [[tok(f"USER: {keyword_question(c)} ASSISTANT:", bos=True), tok(", ".join(VALUES[a])) + [eos]]
                      for c, a in CRITERIA.items()]
    finally:
        runtime.close()
        shutil.rmtree(work, ignore_errors=True)
    return {"image_turns": image_turns, "text_turns": text_turns}


def prepare(work: Path, seed: int) -> None:
    import sentencepiece as spm
    import torch
    from transformers import LlavaForConditionalGeneration

    from models.tiny_llava import train_sentencepiece

    torch.manual_seed(seed)
    shutil.rmtree(work, ignore_errors=True)
    hf = work / "hf"
    hf.mkdir(parents=True)
    train_sentencepiece(hf / "tokenizer.model", SPEC.sp_vocab, corpus())
    n_sp = spm.SentencePieceProcessor(model_file=str(hf / "tokenizer.model")).get_piece_size()
    config = build_config(SPEC, n_sp)
    save_checkpoint(LlavaForConditionalGeneration(config), hf, n_sp)
    n_image = (SPEC.image_size // SPEC.patch_size) ** 2
    turns = tokenized_turns(hf, work / "vocab", config.image_token_index, n_image, eos=2)
    turns.update(n_sp=n_sp, pad=config.pad_token_id)
    (work / "turns.json").write_text(json.dumps(turns))
    print("prepared", hf, work / "turns.json")


def _normalised(spec) -> np.ndarray:
    mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)
    return ((np.asarray(render(spec, SPEC.image_size), np.float32) / 255 - mean) / std).transpose(2, 0, 1)


def render_pool(n: int, seed: int) -> tuple[list, np.ndarray]:
    """The training photos, normalised the way the CLIP preprocessor does (NCHW float32), on all cores."""
    from concurrent.futures import ProcessPoolExecutor

    pool = sample_specs(n, seed=seed)
    with ProcessPoolExecutor() as workers:
        images = np.stack(list(workers.map(_normalised, pool, chunksize=256)))
    return pool, images


def optimise(optimizer, schedule, loss, params: list) -> None:
    """One AdamW step with gradients clipped to norm 1, and the one-cycle schedule advanced."""
    import torch

    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()


def pretrain_vision(model, pool: list, pixels, steps: int, batch: int, rng, device: str) -> None:
    """Teach the vision tower the world's attributes from its projector-input layer, mean-pooled."""
    import torch

    tower = model.model.vision_tower
    layer = model.config.vision_feature_layer
    width = model.config.vision_config.hidden_size
    heads = torch.nn.ModuleDict({a: torch.nn.Linear(width, len(v)) for a, v in VALUES.items()}).to(device)
    targets = {a: torch.tensor([v.index(getattr(s, a)) for s in pool], device=device) for a, v in VALUES.items()}
    params = list(tower.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    started = time.time()
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(len(pool), size=batch)).to(device)
        features = tower(pixels[idx], output_hidden_states=True).hidden_states[layer][:, 1:].mean(1)
        losses = {a: torch.nn.functional.cross_entropy(heads[a](features), targets[a][idx]) for a in VALUES}
        optimise(optimizer, schedule, sum(losses.values()), params)
        if step % 200 == 0 or step == steps - 1:
            parts = "  ".join(f"{a} {v.item():.3f}" for a, v in losses.items())
            print(f"vision step {step:5d}  {parts}  {time.time() - started:6.0f} s", flush=True)


def answer_accuracy(model, turns: dict, photos: int, seed: int, device: str) -> dict[str, float]:
    """Share of unseen photos whose most likely answer (summed log-probability) is right, per attribute."""
    import torch

    pool, images = render_pool(photos, seed)
    pixels = torch.from_numpy(images).to(device)
    accuracy = {}
    with torch.no_grad():
        for attribute, options in turns["image_turns"].items():
            values = list(options[0])
            scores = []
            for value in values:
                prompt, answer = options[0][value]
                ids = torch.tensor([prompt + answer] * photos, device=device)
                logp = model(input_ids=ids, pixel_values=pixels).logits.log_softmax(-1)
                picked = logp[:, len(prompt) - 1:-1].gather(-1, ids[:, len(prompt):, None])
                scores.append(picked.sum((1, 2)))
            best = torch.stack(scores, 1).argmax(1).tolist()
            accuracy[attribute] = float(np.mean([values[b] == getattr(s, attribute) for b, s in zip(best, pool)]))
    return accuracy


def train(work: Path, steps: int, vision_steps: int, batch: int, photos: int, seed: int, device: str) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    turns = json.loads((work / "turns.json").read_text())
    image_turns, text_turns, pad = turns["image_turns"], turns["text_turns"], turns["pad"]
    model = LlavaForConditionalGeneration.from_pretrained(work / "hf").to(device)
    pool, images = render_pool(photos, seed + POOL_SEED_OFFSET)
    pixels_all = torch.from_numpy(images).to(device)
    attributes = list(VALUES)
    model.train()
    pretrain_vision(model, pool, pixels_all, vision_steps, batch * 2, rng, device)
    model.model.vision_tower.requires_grad_(False)

    def batch_of(idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        seqs, labels = [], []
        for i in idx:
            attribute = attributes[rng.integers(len(attributes))]
            options = image_turns[attribute]
            prompt, answer = options[rng.integers(len(options))][getattr(pool[i], attribute)]
            seqs.append(prompt + answer)
            labels.append([-100] * len(prompt) + answer)
        length = max(map(len, seqs))
        ids = torch.full((len(idx), length), pad)
        lab = torch.full((len(idx), length), -100)
        mask = torch.zeros((len(idx), length), dtype=torch.long)
        for b, (s, lb) in enumerate(zip(seqs, labels)):
            ids[b, :len(s)], lab[b, :len(lb)], mask[b, :len(s)] = torch.tensor(s), torch.tensor(lb), 1
        return ids.to(device), mask.to(device), lab.to(device)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    started = time.time()
    for step in range(steps):
        idx = rng.integers(len(pool), size=batch)
        ids, mask, lab = batch_of(idx)
        loss = model(input_ids=ids, attention_mask=mask, pixel_values=pixels_all[idx], labels=lab).loss
        if step % 4 == 0:  # the keyword turns: text only
            prompt, answer = text_turns[rng.integers(len(text_turns))]
            t_ids = torch.tensor([prompt + answer], device=device)
            t_lab = torch.tensor([[-100] * len(prompt) + answer], device=device)
            loss = loss + 0.3 * model(input_ids=t_ids, labels=t_lab).loss
        optimise(optimizer, schedule, loss, trainable)
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - started:6.0f} s", flush=True)

    model.eval()
    print("answer accuracy on unseen photos:", answer_accuracy(model, turns, 200, seed + CHECK_SEED_OFFSET, device))
    trained = work / "trained"
    save_checkpoint(model.to("cpu"), trained, turns["n_sp"])
    shutil.copy(work / "hf" / "tokenizer.model", trained / "tokenizer.model")
    print("trained", trained)


def convert_trained(work: Path, out: Path) -> None:
    from convert.llava_to_gguf import convert

    files = convert(work / "trained", out, name="demo", outtype="f16", quant="Q4_K_M", force=True)
    files.lm.unlink()  # ship the Q4_K_M LM and the f16 mmproj only
    print("wrote", files.quantized, files.mmproj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["all", "prepare", "train", "convert"], nargs="?", default="all")
    parser.add_argument("--out", type=Path, default=REPO / "esmc_desktop" / "demo" / "model")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "demo-train")
    parser.add_argument("--steps", type=int, default=3000, help="LLaVA training steps")
    parser.add_argument("--vision-steps", type=int, default=2000, help="vision tower pre-training steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--photos", type=int, default=4000, help="rendered training photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="torch device for the train stage, e.g. cuda")
    args = parser.parse_args()
    if args.stage in ("all", "prepare"):
        prepare(args.work, args.seed)
    if args.stage in ("all", "train"):
        train(args.work, args.steps, args.vision_steps, args.batch, args.photos, args.seed, args.device)
    if args.stage in ("all", "convert"):
        convert_trained(args.work, args.out)


if __name__ == "__main__":
    main()
