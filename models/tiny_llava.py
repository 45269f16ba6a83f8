"""Build a tiny, random-weight LLaVA-1.5-shaped checkpoint in the llava-hf layout.

The tests (and the interim README command) need a real LLaVA checkpoint to push
through the real converter and the real llama.cpp runtime, and no weights can be
downloaded here. This writes one from a fixed seed: a CLIP vision tower, the
2-layer GELU projector, a Llama language model and a sentencepiece vocabulary,
saved exactly the way llava-hf checkpoints are (config.json, safetensors,
tokenizer.model, tokenizer_config.json, preprocessor_config.json).

Needs the dev extra (torch, transformers, sentencepiece).
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_TOKEN = "<image>"
PAD_TOKEN = "<pad>"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: "
    "{% else %}ASSISTANT: {% endif %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}{% elif item['type'] == 'image' %}"
    "<image>\n{% endif %}{% endfor %}{% if message['role'] == 'user' %} {% else %}"
    "{{eos_token}}{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_CORPUS_WORDS = (
    "USER ASSISTANT the a of is in on and what are common which color colour shape "
    "object car flower fruit place background scene species brand type kind picture "
    "photo image red green blue yellow orange purple pink white black gray brown "
    "circle square triangle star heart cross ring sky sea grass sand snow road "
    "forest city beach answer with single words separated by commas describe this"
).split()


@dataclass(frozen=True)
class TinyLlavaSpec:
    """Dimensions of the tiny model; defaults keep a build under a few seconds."""

    vision_hidden: int = 64
    vision_layers: int = 3
    vision_heads: int = 4
    image_size: int = 56
    patch_size: int = 14
    text_hidden: int = 256
    text_layers: int = 4
    text_heads: int = 4
    text_ffn: int = 512
    sp_vocab: int = 400
    vocab_pad_multiple: int = 64
    seed: int = 0


def train_sentencepiece(out_file: Path, vocab_size: int, extra_text: str = "") -> None:
    """Train a small byte-fallback BPE sentencepiece model, like Llama's."""
    import sentencepiece as spm

    lines = [" ".join(_CORPUS_WORDS[i:] + _CORPUS_WORDS[:i]) for i in range(len(_CORPUS_WORDS))]
    lines += [
        "USER: What is the color of the object? ASSISTANT: The color of the object is red.",
        "What are common colors? Answer with single words separated by commas.",
    ]
    if extra_text:
        lines += extra_text.splitlines()
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        split_digits=True,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    out_file.write_bytes(model.getvalue())


def build_config(spec: TinyLlavaSpec, n_sp_tokens: int):
    """The LlavaConfig of the tiny model; token ids follow llava-hf (image, then pad)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    image_id, pad_id = n_sp_tokens, n_sp_tokens + 1
    vocab = -(-(n_sp_tokens + 2) // spec.vocab_pad_multiple) * spec.vocab_pad_multiple
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_hidden * 4,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_ffn,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        vocab_size=vocab,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        pad_token_id=pad_id,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_id,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=(spec.image_size // spec.patch_size) ** 2,
        pad_token_id=pad_id,
    )


def write_tokenizer_files(out_dir: Path, n_sp_tokens: int) -> None:
    """The tokenizer and processor JSON files of a llava-hf checkpoint."""
    added = {
        str(n_sp_tokens): {"content": IMAGE_TOKEN, "special": True, "normalized": False,
                           "lstrip": False, "rstrip": False, "single_word": False},
        str(n_sp_tokens + 1): {"content": PAD_TOKEN, "special": True, "normalized": False,
                               "lstrip": False, "rstrip": False, "single_word": False},
    }
    tokenizer_config = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": PAD_TOKEN,
        "added_tokens_decoder": added,
        "chat_template": LLAVA_CHAT_TEMPLATE,
        "model_max_length": 1024,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    (out_dir / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": PAD_TOKEN}, indent=2))
    (out_dir / "added_tokens.json").write_text(json.dumps({IMAGE_TOKEN: n_sp_tokens, PAD_TOKEN: n_sp_tokens + 1}))


def write_preprocessor_config(out_dir: Path, image_size: int) -> None:
    config = {
        "image_processor_type": "CLIPImageProcessor",
        "processor_class": "LlavaProcessor",
        "do_resize": True,
        "size": {"shortest_edge": image_size},
        "do_center_crop": True,
        "crop_size": {"height": image_size, "width": image_size},
        "do_normalize": True,
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "do_convert_rgb": True,
        "resample": 3,
        "rescale_factor": 1 / 255,
    }
    (out_dir / "preprocessor_config.json").write_text(json.dumps(config, indent=2))


def build_tiny_llava(
    out_dir: Path | str,
    spec: TinyLlavaSpec = TinyLlavaSpec(),
    *,
    dtype: str = "float32",
    max_shard_size: str | None = None,
    corpus: str = "",
):
    """Write a random-weight tiny LLaVA checkpoint and return the torch model."""
    import sentencepiece as spm
    import torch
    from transformers import LlavaForConditionalGeneration

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_sentencepiece(out_dir / "tokenizer.model", spec.sp_vocab, corpus)
    n_sp = spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model")).get_piece_size()
    torch.manual_seed(spec.seed)
    config = build_config(spec, n_sp)
    model = LlavaForConditionalGeneration(config).eval()
    return save_checkpoint(model, out_dir, n_sp, dtype=dtype, max_shard_size=max_shard_size)


def save_checkpoint(model, out_dir: Path, n_sp_tokens: int, *, dtype: str = "float32",
                    max_shard_size: str | None = None):
    """Save a LLaVA model with its tokenizer files in the llava-hf layout."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.to(getattr(torch, dtype))
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(out_dir, safe_serialization=True, **kwargs)
    write_tokenizer_files(out_dir, n_sp_tokens)
    write_preprocessor_config(out_dir, model.config.vision_config.image_size)
    return model


def sample_image(seed: int = 0, size: int = 56) -> np.ndarray:
    """A smooth random RGB image (coloured blobs over a gradient), like a photo at low resolution."""
    rng = np.random.default_rng(seed)
    cell = max(size // 8, 1)
    coarse = rng.random((-(-size // cell), -(-size // cell), 3))
    img = np.kron(coarse, np.ones((cell, cell, 1)))[:size, :size]
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.7 * img + 0.3 * np.stack([xx, yy, 1 - xx], axis=-1)
    return (img * 255).clip(0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-image", type=Path, help="also write a sample photo (PNG) here")
    args = parser.parse_args()
    build_tiny_llava(args.out_dir, TinyLlavaSpec(seed=args.seed))
    if args.sample_image:
        from PIL import Image

        Image.fromarray(sample_image(args.seed)).save(args.sample_image)
    print(args.out_dir)


if __name__ == "__main__":
    main()
