"""Train the shipped demo model: a tiny LLaVA-1.5-shaped model that understands the synthetic world.

It is trained the way LLaVA-1.5 was, scaled down, so that its hidden states behave like a real
LLaVA's where ESMC reads them: in the llava_v1 chat format with LLaVA's system prompt, with
next-token loss over whole answers in varied wording, and with a language prior (answer words of
unequal frequency in its text-only data), so an image-independent guess exists that the method
must see through.

Recipe (reproducible from --seed and the starting model; needs the convert extra; the exact
commands and their figures are in models/demo/README.md):
  1. prepare: start from an earlier demo model (--from FOLDER with its two GGUFs), as LLaVA
     starts from a pre-trained CLIP and Vicuna: its sentencepiece vocabulary is rebuilt from the
     LM GGUF (same token ids), its vision tower and projector are read from the mmproj, its LM
     is dequantized from Q4_K_M. Every training text is tokenized with llama.cpp's own
     tokenizer (an untrained GGUF of the same vocabulary), so training and inference see
     identical token ids. Writes WORK/hf and WORK/texts.json.
  2. features: renders the training photos and runs the frozen vision tower once per photo
     (its second-to-last layer, what the projector reads); stored in WORK/features.npz.
  3. train: with the tower frozen, the projector and the LM learn, in every step,
       - captions right after the image (LLaVA's stage-1 "plain" format), loss on the caption;
       - conversations in the llava_v1 template: the prompts the product sends ("The color of
         the object is", "What is the shape of the object? Answer with one word.") and other
         questions, answered in varied wording ("Red.", "The color of the object is red.",
         "It is star-shaped."), loss over the whole answer and </s>;
       - text-only language data, loss on every token: sentences about objects whose answer
         words follow unequal frequencies (the language prior), and the keyword questions
         ("What are common colors of objects? ...") in the template.
     Checkpoints WORK/checkpoint.pt every --save-every steps; `train` resumes from it (with
     more --steps than the checkpoint's run: a second one-cycle over the added steps).
     Prints, on unseen photos, the logit lens at the criterion prompt's last token per layer.
  4. convert: WORK/checkpoint.pt -> convert/llava_to_gguf.py -> OUT/demo-Q4_K_M.gguf +
     OUT/demo-mmproj-f16.gguf.

Usage: python models/demo/train_demo.py STAGE --work DIR [--from FOLDER] [--steps N] [--device cuda]
       (STAGE: prepare, features, train, convert, or all)
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
ATTRIBUTES = {attribute: criterion for criterion, attribute in CRITERIA.items()}
# The language prior: how often each value is written about in the text-only data (most common
# first), unlike the photos, where every value is equally likely.
PRIOR = {"color": [0.32, 0.22, 0.16, 0.12, 0.1, 0.08], "shape": [0.34, 0.24, 0.18, 0.14, 0.1],
         "background": [0.4, 0.27, 0.2, 0.13]}
PRIOR_ORDER = {"color": ["red", "blue", "green", "yellow", "orange", "purple"],
               "shape": ["circle", "square", "star", "triangle", "cross"],
               "background": ["sky", "grass", "sand", "brick"]}
ATTRIBUTE_MIX = (0.25, 0.3, 0.45)  # how often photos are asked about colour, shape, background (--mix)
POOL_SEED_OFFSET = 1000  # the training photos' seed is --seed + this; benchmarks use other seeds
CHECK_SEED_OFFSET = 2000  # photos for the accuracy printed during training
N_IMAGE = (SPEC.image_size // SPEC.patch_size) ** 2


def chat_template():
    """The llava_v1 conversation template (LLaVA's system prompt), as the product's runtime builds it."""
    from esmc_desktop.mllm.prompts import LLAVA_V1

    return LLAVA_V1


# ---------------------------------------------------------------------------------------------
# The texts: every string the model is trained on, generated from the world's attribute values.

def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _shaped(shape: str) -> str:
    """'star-shaped': the shape's word right after "is", as "The shape of the object is star." has it. With
    "It is a star." a 4-layer model learnt to answer " a" at the prompt's " is" for a third of the photos."""
    return f"{shape}-shaped"


def prompts(attribute: str) -> list[str]:
    """Questions about one attribute; the first two are exactly what the product sends."""
    from esmc_desktop.bench.methods import question
    from esmc_desktop.engine.types import Criterion

    criterion = ATTRIBUTES[attribute]
    noun, _, thing = criterion.partition(" of the ")
    return [Criterion(criterion).prompt, question(criterion), f"What is the {criterion}?",
            f"What {noun} is the {thing}?" if attribute != "background" else "What is behind the object?"]


def answers(attribute: str, value: str, prompt_index: int) -> list[str]:
    """The ways an answer to prompts(attribute)[prompt_index] is worded."""
    criterion = ATTRIBUTES[attribute]
    thing = _shaped(value) if attribute == "shape" else value
    sentences = [f"The {criterion} is {value}.", f"It is {thing}."]
    sentences.append(f"The background is {value}." if attribute == "background" else f"The object is {thing}.")
    one_word = [f"{value.capitalize()}.", value, value.capitalize()]
    if prompt_index == 1:
        return one_word
    if prompt_index == 0:
        return [f"{value}.", f"{value.capitalize()}."] + sentences
    return sentences + one_word[:1]


def descriptions(color: str, shape: str, background: str) -> list[str]:
    """Whole-photo texts (captions and answers to 'Describe the photo.')."""
    return [f"{_a(color).capitalize()} {shape} on a {background} background.",
            f"The photo shows {_a(color)} {shape} in front of {background}.",
            f"The color of the object is {color}. The shape of the object is {shape}. "
            f"The background of the photo is {background}.",
            f"The background of the photo is {background}. The object is {_a(color)} {shape}."]


def captions(attribute: str, value: str) -> list[str]:
    """One-attribute captions, the sentences whose words the product's prompts reuse."""
    out = [f"The {ATTRIBUTES[attribute]} is {value}."]
    out.append(f"The object is {_shaped(value) if attribute == 'shape' else value}." if attribute != "background"
               else f"The background is {value}.")
    return out


DESCRIBE = ["Describe the photo.", "What is in the photo?"]


def keyword_answer(attribute: str) -> str:
    """The keyword question's answer: every value, most common first, as LLaVA lists single words."""
    return ", ".join(PRIOR_ORDER[attribute])


def all_texts() -> dict[str, list[str]]:
    """Every text piece, by how it is tokenized (the product's runtime splits turns the same way)."""
    from esmc_desktop.method.keywords import keyword_question

    template = chat_template()
    suffixes, turns, answer_texts, caption_texts, plain, lens = set(), set(), set(), set(), set(), set()
    for attribute, values in VALUES.items():
        for i, prompt in enumerate(prompts(attribute)):
            suffixes.add(template.suffix(prompt))
            turns.add(later_turn(prompt))
            lens.add(_up_to_prompt(template, prompt))
            for value in values:
                answer_texts.update(answers(attribute, value, i))
                caption_texts.update(captions(attribute, value))
        answer_texts.add(keyword_answer(attribute))
        plain.add(template.text(keyword_question(ATTRIBUTES[attribute])))
    suffixes.update(template.suffix(p) for p in DESCRIBE)
    turns.update(later_turn(p) for p in DESCRIBE)
    for c in COLORS:
        for s in SHAPES:
            for b in BACKGROUNDS:
                answer_texts.update(descriptions(c, s, b))
                caption_texts.update(descriptions(c, s, b))
    plain.update(caption_texts)  # the text-only language data reuses the caption sentences
    return {"prefix": [template.before_image], "suffix": sorted(suffixes), "turn": sorted(turns),
            "answer": sorted(answer_texts),
            "caption": sorted("\n" + c for c in caption_texts), "plain": sorted(plain), "lens": sorted(lens)}


def later_turn(prompt: str) -> str:
    """A follow-up question in the same conversation (llava_v1 joins turns with </s>)."""
    return f"USER: {prompt} ASSISTANT:"


def _up_to_prompt(template, prompt: str) -> str:
    """The suffix up to the prompt's last character: its tokens end at the prompt's last token."""
    suffix = template.suffix(prompt)
    return suffix[:suffix.index(prompt) + len(prompt)]


def corpus() -> str:
    """The vocabulary's training text: every text the model sees, repeated."""
    texts = all_texts()
    lines = [t.strip() for kind, group in texts.items() if kind != "lens" for t in group]
    return "\n".join(lines * 3)


# ---------------------------------------------------------------------------------------------
# prepare

def tokenize_texts(hf_dir: Path, work: Path) -> dict[str, dict[str, list[int]]]:
    """Every text piece as llama.cpp token ids (prefix and plain texts with BOS, the rest without)."""
    from convert.llava_to_gguf import convert
    from esmc_desktop.mllm.runtime import LlavaRuntime

    files = convert(hf_dir, work, name="vocab", outtype="f32", quant="none", force=True)
    runtime = LlavaRuntime(files.lm, n_ctx=256)
    try:
        out = {kind: {t: runtime.tokenize(t, add_bos=kind in ("prefix", "plain")) for t in group}
               for kind, group in all_texts().items()}
        out["eos"] = 2
        out["bos"] = runtime.tokenize("", add_bos=True)
    finally:
        runtime.close()
        shutil.rmtree(work, ignore_errors=True)
    return out


def tokenizer_from_gguf(lm: Path, out_file: Path) -> int:
    """Rebuild the sentencepiece model a shipped LM GGUF was converted from (its pieces, scores and
    types, with our trainer's settings), so the fine-tuned model keeps its token ids. Returns its size."""
    import gguf
    from sentencepiece import sentencepiece_model_pb2 as sp_model

    from models.tiny_llava import train_sentencepiece

    reader = gguf.GGUFReader(lm)
    field = reader.fields
    tokens = [bytes(field["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in field["tokenizer.ggml.tokens"].data]
    scores = [float(field["tokenizer.ggml.scores"].parts[i][0]) for i in field["tokenizer.ggml.scores"].data]
    types = [int(field["tokenizer.ggml.token_type"].parts[i][0]) for i in field["tokenizer.ggml.token_type"].data]
    n_sp = tokens.index("<image>")  # the converter appends llava-hf's <image> and <pad> after the pieces
    train_sentencepiece(out_file, 300)  # only for the trainer and normalizer settings
    proto = sp_model.ModelProto()
    proto.ParseFromString(out_file.read_bytes())
    del proto.pieces[:]
    for piece, score, kind in zip(tokens[:n_sp], scores[:n_sp], types[:n_sp]):
        proto.pieces.add(piece=piece, score=score, type=kind)  # gguf.TokenType numbers sentencepiece's types
    proto.trainer_spec.vocab_size = n_sp
    out_file.write_bytes(proto.SerializeToString())
    return n_sp


def _dequantized(t, shape) -> np.ndarray:
    import gguf

    data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    assert data.size == int(np.prod(shape)), (t.name, data.shape, shape)
    return data.reshape(tuple(shape)).copy()


def _unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """The converter interleaves rotary halves per head for llama.cpp; transformers keeps them split."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_shipped(model, source: Path) -> None:
    """Start from the shipped demo model: vision tower, projector and LM read back from its GGUFs
    (the LM dequantized from Q4_K_M), the way LLaVA starts from a pre-trained CLIP and Vicuna."""
    import gguf
    import torch

    mmproj = {t.name: t for t in gguf.GGUFReader(source / "demo-mmproj-f16.gguf").tensors}
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, SPEC.vision_layers)
    tower = {}
    for key, param in model.model.vision_tower.state_dict().items():
        if "post_layernorm" in key or "position_ids" in key:
            continue  # not in an mmproj; LLaVA never uses them
        name = names.get_name("vision_tower.vision_model." + key.removeprefix("vision_model."),
                              try_suffixes=(".weight", ".bias"))
        tower[key] = torch.from_numpy(_dequantized(mmproj[name], param.shape))
    missing = model.model.vision_tower.load_state_dict(tower, strict=False).missing_keys
    assert all("post_layernorm" in k or "position_ids" in k for k in missing), missing
    projector = {key: torch.from_numpy(_dequantized(mmproj[f"mm.{0 if 'linear_1' in key else 2}.{key.split('.')[-1]}"],
                                                     param.shape))
                 for key, param in model.model.multi_modal_projector.state_dict().items()}
    model.model.multi_modal_projector.load_state_dict(projector)

    lm = {t.name: t for t in gguf.GGUFReader(source / "demo-Q4_K_M.gguf").tensors}
    text = model.config.text_config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, text.num_hidden_layers)
    language = {}
    for key, param in model.model.language_model.state_dict().items():
        if key.endswith("rotary_emb.inv_freq"):
            continue
        w = _dequantized(lm[names.get_name("model." + key, try_suffixes=(".weight", ".bias"))], param.shape)
        if key.endswith(("q_proj.weight", "k_proj.weight")):
            heads = text.num_attention_heads if "q_proj" in key else text.num_key_value_heads
            w = _unpermute_qk(w, heads)
        language[key] = torch.from_numpy(w)
    model.model.language_model.load_state_dict(language, strict=False)
    model.lm_head.weight.data = torch.from_numpy(_dequantized(lm["output.weight"], model.lm_head.weight.shape))


def prepare(work: Path, seed: int, source: Path) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    hf = work / "hf"
    shutil.rmtree(hf, ignore_errors=True)
    (work / "checkpoint.pt").unlink(missing_ok=True)  # trained from another start
    hf.mkdir(parents=True)
    n_sp = tokenizer_from_gguf(source / "demo-Q4_K_M.gguf", hf / "tokenizer.model")
    model = LlavaForConditionalGeneration(build_config(SPEC, n_sp))
    load_shipped(model, source)
    save_checkpoint(model, hf, n_sp)
    texts = tokenize_texts(hf, work / "vocab")
    texts.update(n_sp=n_sp, pad=model.config.pad_token_id, image=model.config.image_token_index)
    (work / "texts.json").write_text(json.dumps(texts))
    system = texts["prefix"][chat_template().before_image]
    print(f"prepared {hf}: {n_sp} pieces; the image prefix is {len(system)} tokens", flush=True)


# ---------------------------------------------------------------------------------------------
# features

def _pixels(spec, size: int) -> np.ndarray:
    """The photo as the product hands it to llama.cpp: rendered at `size` px, then shrunk by a whole
    factor with a box filter to the tower's size (photos/decode.py does the same with every photo)."""
    image = render(spec, size)
    if size > SPEC.image_size:
        image = image.reduce(size // SPEC.image_size)
    return np.asarray(image, np.float32)


def _normalised(spec, size: int) -> np.ndarray:
    mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)
    return ((_pixels(spec, size) / 255 - mean) / std).transpose(2, 0, 1)


def tower_features(model, specs: list, device: str, sizes: tuple[int, ...]) -> np.ndarray:
    """The frozen tower's second-to-last layer per photo, patch tokens only (what the projector reads).

    Photo i is rendered at sizes[i % len(sizes)]: a photo drawn at 64 px has hard edges, one drawn at
    128 px and box-shrunk to 64 soft ones, and the product sees both (the demo writes 128 px photos).
    """
    import torch

    out = []
    layer = model.config.vision_feature_layer
    with torch.no_grad():
        for start in range(0, len(specs), 256):
            batch = range(start, min(start + 256, len(specs)))
            pixels = torch.from_numpy(np.stack([_normalised(specs[i], sizes[i % len(sizes)]) for i in batch]))
            hidden = model.model.vision_tower(pixels.to(device), output_hidden_states=True).hidden_states[layer][:, 1:]
            out.append(hidden.to(torch.float16).cpu().numpy())
    return np.concatenate(out)


def labels_of(specs: list) -> np.ndarray:
    return np.array([[VALUES[a].index(getattr(s, a)) for a in VALUES] for s in specs], dtype=np.int64)


def features(work: Path, photos: int, seed: int, device: str, sizes: tuple[int, ...]) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(work / "hf").to(device).eval()
    started = time.time()
    for name, n, s in (("features", photos, seed + POOL_SEED_OFFSET), ("check", 300, seed + CHECK_SEED_OFFSET)):
        specs = sample_specs(n, seed=s)
        np.savez(work / f"{name}.npz", features=tower_features(model, specs, device, sizes),
                 labels=labels_of(specs))
    print(f"features of {photos} photos in {time.time() - started:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# train

class Batches:
    """Random training sequences (token ids, loss mask, image slot) built from the tokenized texts."""

    def __init__(self, texts: dict, labels: np.ndarray, rng: np.random.Generator,
                 mix: tuple[float, ...] = ATTRIBUTE_MIX):
        from esmc_desktop.method.keywords import keyword_question

        self.t, self.labels, self.rng, self.mix = texts, labels, rng, np.asarray(mix) / sum(mix)
        self.template = chat_template()
        self.keyword_turns = [self.template.text(keyword_question(ATTRIBUTES[a])) for a in VALUES]
        self.prior = {a: [PRIOR[a][PRIOR_ORDER[a].index(v)] for v in VALUES[a]] for a in VALUES}
        self.prompts = {a: prompts(a) for a in VALUES}

    def _pick(self, options: list[str]) -> str:
        return options[self.rng.integers(len(options))]

    def _values(self, photo: int | None) -> dict[str, str]:
        if photo is None:  # text only: the language prior decides
            return {a: VALUES[a][self.rng.choice(len(VALUES[a]), p=self.prior[a])] for a in VALUES}
        return {a: VALUES[a][i] for a, i in zip(VALUES, self.labels[photo])}

    def image_sequence(self, photo: int) -> tuple[list[int], list[int]]:
        """(ids, loss mask) of one photo's sequence; the image sits at the template's slot."""
        t, values, image = self.t, self._values(photo), [self.t["image"]] * N_IMAGE
        if self.rng.random() < 0.25:  # a stage-1 caption, right after the image
            if self.rng.random() < 0.4:
                text = self._pick(descriptions(values["color"], values["shape"], values["background"]))
            else:
                attribute = self.rng.choice(list(VALUES), p=self.mix)
                text = self._pick(captions(attribute, values[attribute]))
            caption = t["caption"]["\n" + text] + [t["eos"]]
            return t["bos"] + image + caption, [0] * (len(t["bos"]) + N_IMAGE + 1) + [1] * (len(caption) - 1)
        ids = t["prefix"][self.template.before_image] + image
        mask = [0] * len(ids)
        for turn, (prompt, answer) in enumerate(self._questions(values)):
            question = t["suffix"][self.template.suffix(prompt)] if turn == 0 else t["turn"][later_turn(prompt)]
            reply = t["answer"][answer] + [t["eos"]]
            ids += question + reply
            mask += [0] * len(question) + [1] * len(reply)
        return ids, mask

    def _questions(self, values: dict[str, str]) -> list[tuple[str, str]]:
        """One to three (question, answer) turns about the photo, as in LLaVA's multi-turn data."""
        if self.rng.random() < 0.1:
            return [(self._pick(DESCRIBE), self._pick(descriptions(values["color"], values["shape"],
                                                                  values["background"])))]
        order = self.rng.choice(list(VALUES), size=1 + self.rng.integers(3), replace=False, p=self.mix)
        out = []
        for attribute in order:
            i = int(self.rng.choice(4, p=[0.4, 0.3, 0.15, 0.15]))  # the product's two prompts most often
            out.append((self.prompts[attribute][i], self._pick(answers(attribute, values[attribute], i))))
        return out

    def text_sequence(self) -> tuple[list[int], list[int]]:
        """A text-only sequence: a sentence under the language prior (loss on all of it) or a keyword turn."""
        t = self.t
        if self.rng.random() < 0.3:
            attribute = self._pick(list(VALUES))
            head = t["plain"][self.keyword_turns[list(VALUES).index(attribute)]]
            tail = t["answer"][keyword_answer(attribute)] + [t["eos"]]
            return head + tail, [0] * len(head) + [1] * len(tail)
        values = self._values(None)
        if self.rng.random() < 0.4:
            text = self._pick(descriptions(values["color"], values["shape"], values["background"]))
        else:
            attribute = self._pick(list(VALUES))
            text = self._pick(captions(attribute, values[attribute]))
        ids = t["plain"][text] + [t["eos"]]
        return ids, [0] + [1] * (len(ids) - 1)


def _padded(seqs: list[tuple[list[int], list[int]]], pad: int):
    """ids, attention mask and labels (-100 where no loss), right-padded."""
    import torch

    length = max(len(s) for s, _ in seqs)
    ids = torch.full((len(seqs), length), pad)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    labels = torch.full((len(seqs), length), -100)
    for b, (s, m) in enumerate(seqs):
        ids[b, :len(s)], mask[b, :len(s)] = torch.tensor(s), 1
        labels[b, :len(s)] = torch.where(torch.tensor(m) == 1, torch.tensor(s), -100)
    return ids, mask, labels


def lm_loss(model, ids, mask, labels, image_features=None, image_id: int = -1):
    """Next-token cross-entropy; the image slots take the projector's output for the given features."""
    import torch

    embed = model.get_input_embeddings()
    is_image = ids == image_id
    embeds = embed(torch.where(is_image, 0, ids))
    if image_features is not None:
        projected = model.model.multi_modal_projector(image_features)
        embeds = embeds.masked_scatter(is_image[..., None], projected.reshape(-1, projected.shape[-1]).to(embeds.dtype))
    logits = model(inputs_embeds=embeds, attention_mask=mask).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten())


def check(model, texts: dict, check_set, device: str) -> str:
    """On unseen photos: the one-word answer's accuracy and, per layer, the logit lens at the last
    token of the product's prompt (no final norm, as ESMC reads it): how often its top value is right."""
    import torch

    feats, labels = check_set
    template = chat_template()
    out = []
    model.eval()
    with torch.no_grad():
        image = model.model.multi_modal_projector(feats)
        for a_index, attribute in enumerate(VALUES):
            truth = labels[:, a_index]
            lower = [texts["answer"][v][0] for v in VALUES[attribute]]
            upper = [texts["answer"][v.capitalize()][0] for v in VALUES[attribute]]
            row = []
            for p_index in (0, 1):
                head = texts["prefix"][template.before_image]
                suffix = texts["suffix"][template.suffix(prompts(attribute)[p_index])]
                ids = torch.tensor([head + [0] * N_IMAGE + suffix] * len(feats), device=device)
                embeds = model.get_input_embeddings()(ids)
                embeds[:, len(head):len(head) + N_IMAGE] = image
                run = model(inputs_embeds=embeds, output_hidden_states=True)
                if p_index == 1:  # the answer to "... Answer with one word."
                    answer = run.logits[:, -1].softmax(-1)
                    got = (answer[:, lower] + answer[:, upper]).argmax(-1).cpu().numpy()
                    row.append(f"answer {np.mean(got == truth):.2f}")
                else:  # the lens at the prompt's last token ("is"), before " ASSISTANT:"
                    hidden = run.hidden_states
                    lens = texts["lens"][_up_to_prompt(template, prompts(attribute)[0])]
                    pos = len(head) + N_IMAGE + len(lens) - 1
                    for layer in range(1, len(hidden)):  # the last one after the final norm
                        probs = model.lm_head(hidden[layer][:, pos]).softmax(-1)
                        kw = probs[:, lower] + probs[:, upper]
                        got = kw.argmax(-1).cpu().numpy()
                        row.append(f"L{layer - 1} {np.mean(got == truth):.2f}/{kw.max(-1).values.mean():.2f}")
            out.append(f"{attribute}: " + " ".join(row))
    model.train()
    return " | ".join(out)


def train(work: Path, steps: int, batch: int, text_batch: int, seed: int, device: str, save_every: int,
          lr: float, mix: tuple[float, ...] = ATTRIBUTE_MIX) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    texts = json.loads((work / "texts.json").read_text())
    data = np.load(work / "features.npz")
    pool = torch.from_numpy(data["features"])
    checks = np.load(work / "check.npz")
    check_set = (torch.from_numpy(checks["features"][:120]).float().to(device), checks["labels"][:120])
    model = LlavaForConditionalGeneration.from_pretrained(work / "hf").to(device)
    model.model.vision_tower.requires_grad_(False)  # frozen, as in LLaVA-1.5 (and precomputed here)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05)
    batches = Batches(texts, data["labels"], rng, mix)
    start, elapsed, schedule_start = 0, 0.0, 0
    ckpt = work / "checkpoint.pt"
    if ckpt.is_file():
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["rng"]
        start, elapsed, schedule_start = saved["step"], saved["elapsed"], saved.get("schedule_start", 0)
        if schedule_start + saved["schedule"]["total_steps"] == steps:
            schedule.load_state_dict(saved["schedule"])
        else:  # more --steps than the checkpoint's run: a second one-cycle over the added steps
            schedule_start = start
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps - start,
                                                           pct_start=0.05)
        print(f"resumed at step {start} of {steps}", flush=True)
    model.train()
    started = time.time() - elapsed
    for step in range(start, steps):
        photos = rng.integers(len(pool), size=batch)
        ids, mask, labels = _padded([batches.image_sequence(int(p)) for p in photos], texts["pad"])
        feats = pool[photos].float().to(device)
        loss = lm_loss(model, ids.to(device), mask.to(device), labels.to(device), feats, texts["image"])
        t_ids, t_mask, t_labels = _padded([batches.text_sequence() for _ in range(text_batch)], texts["pad"])
        text_loss = lm_loss(model, t_ids.to(device), t_mask.to(device), t_labels.to(device))
        optimizer.zero_grad()
        (loss + 0.5 * text_loss).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        done = step + 1
        if step % 50 == 0 or done == steps:
            print(f"step {step:5d}  loss {loss.item():.4f}  text {text_loss.item():.4f}  "
                  f"{time.time() - started:6.0f} s", flush=True)
        if done % save_every == 0 or done == steps:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict(), "schedule_start": schedule_start,
                     "rng": rng.bit_generator.state, "step": done,
                     "elapsed": time.time() - started}
            torch.save(state, ckpt.with_suffix(".partial"))
            ckpt.with_suffix(".partial").replace(ckpt)
            print(f"saved step {done}", flush=True)
        if done % (2 * save_every) == 0 or done == steps:
            print(f"step {done}, unseen photos: {check(model, texts, check_set, device)}", flush=True)


def convert_trained(work: Path, out: Path) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    from convert.llava_to_gguf import convert

    model = LlavaForConditionalGeneration.from_pretrained(work / "hf")
    saved = torch.load(work / "checkpoint.pt", weights_only=False)
    model.load_state_dict(saved["model"])
    trained = work / "trained"
    save_checkpoint(model.eval(), trained, json.loads((work / "texts.json").read_text())["n_sp"])
    shutil.copy(work / "hf" / "tokenizer.model", trained / "tokenizer.model")
    files = convert(trained, out, name="demo", outtype="f16", quant="Q4_K_M", force=True)
    files.lm.unlink()  # ship the Q4_K_M LM and the f16 mmproj only
    print(f"wrote {files.quantized} {files.mmproj} (step {saved['step']}, {saved['elapsed']:.0f} s of training)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["all", "prepare", "features", "train", "convert"], nargs="?", default="all")
    parser.add_argument("--out", type=Path, default=REPO / "esmc_desktop" / "demo" / "model")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="folder with the demo model this one starts from (demo-Q4_K_M.gguf, "
                             "demo-mmproj-f16.gguf); the README says which one")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "demo-train")
    parser.add_argument("--steps", type=int, default=1000, help="training steps")
    parser.add_argument("--batch", type=int, default=12, help="photo sequences (conversations, captions) per step")
    parser.add_argument("--text-batch", type=int, default=6, help="text-only sequences per step")
    parser.add_argument("--photos", type=int, default=20000, help="rendered training photos")
    parser.add_argument("--sizes", default=str(SPEC.image_size),
                        help="sizes the training photos are rendered at before they are shrunk to the tower's, "
                             "e.g. 64,128,192,256 (comma-separated; photo i gets size i mod their number)")
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--mix", default=",".join(map(str, ATTRIBUTE_MIX)),
                        help="how often photo sequences are about colour, shape, background (relative weights)")
    parser.add_argument("--lr", type=float, default=5e-4,
                        help="peak learning rate (one-cycle); low, as the model starts from the shipped one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; 1 is fastest on a busy machine (0: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.stage in ("all", "prepare"):
        if args.source is None:
            parser.error("prepare needs --from FOLDER: the demo model to start from (models/demo/README.md)")
        prepare(args.work, args.seed, args.source)
    if args.stage in ("all", "features"):
        features(args.work, args.photos, args.seed, args.device, tuple(int(x) for x in args.sizes.split(",")))
    if args.stage in ("all", "train"):
        train(args.work, args.steps, args.batch, args.text_batch, args.seed, args.device, args.save_every, args.lr,
              tuple(float(x) for x in args.mix.split(",")))
    if args.stage in ("all", "convert"):
        convert_trained(args.work, args.out)


if __name__ == "__main__":
    main()
