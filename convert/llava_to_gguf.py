"""Convert a Hugging Face LLaVA-1.5 checkpoint (llava-hf layout) to the GGUF files ESMC Desktop runs.

Writes three files into --outdir, and a fourth if asked:
  NAME-<outtype>.gguf         the language model (llama architecture, with its tokenizer)
  NAME-mmproj-<outtype>.gguf  the vision tower + projector (clip, projector_type mlp)
  NAME-<quant>.gguf           the language model quantized by llama.cpp's own quantizer (default Q4_K_M)
  NAME-mmproj-Q8_0.gguf       with --mmproj-quant Q8_0: the mmproj with its matrices in Q8_0 (half the
                              memory; its image features agree with f16's as f16's with f32's, see
                              docs/memory-and-quantization.md)

Tensors are streamed: read one, convert it, write it, drop it. The mmproj keeps
every vision block and declares the full block count: the llama.cpp we pin runs
block_count - 1 blocks, which is exactly LLaVA's "second-to-last CLIP layer".

Usage: python convert/llava_to_gguf.py HF_DIR --outdir DIR [--name NAME]
           [--outtype f16|f32] [--quant Q4_K_M|Q4_0|Q5_K_M|Q8_0|none] [--mmproj-quant none|Q8_0]
           [--allow-pickle] [--force]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gguf

from convert.checkpoint import Checkpoint, CheckpointError, TensorRef
from convert.vocab import load_vocab
from esmc_desktop.files import atomic_path
from esmc_desktop.mllm.quantize import FTYPES, MMPROJ_QUANTS

OUTTYPES = ("f16", "f32")
QUANTS = (*FTYPES, "none")
_PROJECTOR_NAMES = {
    # llama.cpp's mlp projector loads the nn.Sequential indices of the original
    # LLaVA code (mm.0 = first linear, mm.2 = second); gguf-py's map says mm.1.
    "projector.linear_1.weight": "mm.0.weight",
    "projector.linear_1.bias": "mm.0.bias",
    "projector.linear_2.weight": "mm.2.weight",
    "projector.linear_2.bias": "mm.2.bias",
}
_SKIPPED_VISION = ("vision.post_layernorm.", "vision.embeddings.position_ids")


@dataclass(frozen=True)
class ConvertedFiles:
    lm: Path
    mmproj: Path
    quantized: Path | None
    mmproj_quantized: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.lm, self.mmproj, self.quantized, self.mmproj_quantized) if p is not None]


@dataclass(frozen=True)
class _Planned:
    gguf_name: str
    ref: TensorRef
    transform: Callable[[np.ndarray], np.ndarray] | None
    out_dtype: type


def _resolved_config(directory: Path):
    """The LlavaConfig with transformers' defaults filled in (hub configs omit most)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if config.model_type != "llava":
        raise CheckpointError(f"config.json describes a '{config.model_type}' model, not LLaVA ('llava')")
    if config.text_config.model_type != "llama":
        raise CheckpointError(f"the language model is '{config.text_config.model_type}'; only Llama/Vicuna is supported")
    if config.vision_config.model_type not in ("clip_vision_model", "clip"):
        raise CheckpointError(f"the vision tower is '{config.vision_config.model_type}'; only CLIP is supported")
    layer = config.vision_feature_layer
    if layer != -2 and layer != config.vision_config.num_hidden_layers - 1:
        raise CheckpointError(f"vision_feature_layer={layer}: llama.cpp's LLaVA projector reads the second-to-last CLIP layer")
    if config.vision_feature_select_strategy != "default":
        raise CheckpointError("vision_feature_select_strategy must be 'default' (drop the CLS token) for llama.cpp")
    if config.projector_hidden_act != "gelu":
        raise CheckpointError(f"projector activation '{config.projector_hidden_act}' is not LLaVA-1.5's gelu")
    return config


def _permute_qk(n_head: int) -> Callable[[np.ndarray], np.ndarray]:
    """HF stores rotary q/k halves split; llama.cpp wants them interleaved per head."""

    def permute(w: np.ndarray) -> np.ndarray:
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    return permute


def _out_dtype(outtype: str, shape: tuple[int, ...], keep_f32: bool = False) -> type:
    if outtype == "f32" or len(shape) < 2 or keep_f32:
        return np.float32
    return np.float16


def _plan_lm(ckpt: Checkpoint, config, outtype: str) -> list[_Planned]:
    text = config.text_config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, text.num_hidden_layers)
    plan: list[_Planned] = []
    tensors = ckpt.by_canonical()
    for canonical, ref in tensors.items():
        if not canonical.startswith("lm."):
            continue
        hf_name = canonical.removeprefix("lm.")
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise CheckpointError(f"unexpected language-model tensor {ref.name}")
        transform = None
        if hf_name.endswith("q_proj.weight"):
            transform = _permute_qk(text.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            transform = _permute_qk(text.num_key_value_heads)
        plan.append(_Planned(gguf_name, ref, transform, _out_dtype(outtype, ref.shape)))
    if "lm.lm_head.weight" not in tensors:
        embed = tensors.get("lm.model.embed_tokens.weight")
        if embed is None:
            raise CheckpointError("the checkpoint has neither lm_head nor embed_tokens")
        plan.append(_Planned("output.weight", embed, None, _out_dtype(outtype, embed.shape)))
    return plan


def _plan_mmproj(ckpt: Checkpoint, config, outtype: str) -> list[_Planned]:
    vision = config.vision_config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, vision.num_hidden_layers)
    plan: list[_Planned] = []
    for canonical, ref in ckpt.by_canonical().items():
        if canonical.startswith("projector."):
            gguf_name = _PROJECTOR_NAMES.get(canonical)
        elif canonical.startswith("vision.") and not canonical.startswith(_SKIPPED_VISION):
            gguf_name = names.get_name("vision_tower.vision_model." + canonical.removeprefix("vision."),
                                       try_suffixes=(".weight", ".bias"))
        else:
            continue
        if gguf_name is None:
            raise CheckpointError(f"unexpected vision tensor {ref.name}")
        keep_f32 = gguf_name.startswith(("v.position_embd", "v.class_embd"))
        plan.append(_Planned(gguf_name, ref, None, _out_dtype(outtype, ref.shape, keep_f32)))
    blocks = {p.gguf_name.split(".")[2] for p in plan if p.gguf_name.startswith("v.blk.")}
    if len(blocks) != vision.num_hidden_layers:
        raise CheckpointError(f"the checkpoint has {len(blocks)} vision blocks, its config says {vision.num_hidden_layers}")
    return plan


def _file_type(outtype: str) -> int:
    return gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.ALL_F32


def _write_streamed(writer: gguf.GGUFWriter, ckpt: Checkpoint, plan: Iterable[_Planned], progress: bool) -> None:
    plan = sorted(plan, key=lambda p: p.gguf_name)
    for p in plan:
        nbytes = int(np.prod(p.ref.shape)) * np.dtype(p.out_dtype).itemsize
        writer.add_tensor_info(p.gguf_name, p.ref.shape, np.dtype(p.out_dtype), nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    items = plan
    if progress:
        from tqdm import tqdm

        items = tqdm(plan, desc=Path(writer.path).name if writer.path else "gguf", unit="tensor", file=sys.stderr)
    for p in items:
        data = ckpt.load(p.ref)
        if p.transform is not None:
            data = p.transform(data)
        writer.write_tensor_data(np.ascontiguousarray(data.astype(p.out_dtype)))
        del data
    writer.close()


def write_lm(ckpt: Checkpoint, config, out: Path, outtype: str, name: str, progress: bool = False) -> None:
    text = config.text_config
    plan = _plan_lm(ckpt, config, outtype)
    n_rows = next(p.ref.shape[0] for p in plan if p.gguf_name == "token_embd.weight")
    vocab = load_vocab(ckpt.dir, n_rows)
    writer = gguf.GGUFWriter(out, arch="llama")
    writer.add_name(name)
    writer.add_file_type(_file_type(outtype))
    writer.add_context_length(text.max_position_embeddings)
    writer.add_embedding_length(text.hidden_size)
    writer.add_block_count(text.num_hidden_layers)
    writer.add_feed_forward_length(text.intermediate_size)
    writer.add_head_count(text.num_attention_heads)
    writer.add_head_count_kv(text.num_key_value_heads)
    writer.add_rope_dimension_count(text.hidden_size // text.num_attention_heads)
    writer.add_layer_norm_rms_eps(text.rms_norm_eps)
    rope_theta = getattr(text, "rope_theta", None) or (getattr(text, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_vocab_size(n_rows)
    vocab.add_to(writer)
    _write_streamed(writer, ckpt, plan, progress)


def _image_norm(ckpt: Checkpoint) -> tuple[list[float], list[float]]:
    import json

    pre = ckpt.dir / "preprocessor_config.json"
    if not pre.is_file():
        raise CheckpointError(f"{ckpt.dir} has no preprocessor_config.json (image mean and std)")
    cfg = json.loads(pre.read_text())
    return [float(v) for v in cfg["image_mean"]], [float(v) for v in cfg["image_std"]]


def write_mmproj(ckpt: Checkpoint, config, out: Path, outtype: str, name: str, progress: bool = False) -> None:
    vision = config.vision_config
    if vision.hidden_act not in ("quick_gelu", "gelu"):
        raise CheckpointError(f"vision activation '{vision.hidden_act}' is not supported by llama.cpp's CLIP")
    mean, std = _image_norm(ckpt)
    plan = _plan_mmproj(ckpt, config, outtype)
    writer = gguf.GGUFWriter(out, arch="clip")
    writer.add_type(gguf.GGUFType.MMPROJ)
    writer.add_name(name + " mmproj")
    writer.add_file_type(_file_type(outtype))
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_projection_dim(config.text_config.hidden_size)
    writer.add_vision_image_size(vision.image_size)
    writer.add_vision_patch_size(vision.patch_size)
    writer.add_vision_embedding_length(vision.hidden_size)
    writer.add_vision_feed_forward_length(vision.intermediate_size)
    writer.add_vision_block_count(vision.num_hidden_layers)
    writer.add_vision_head_count(vision.num_attention_heads)
    writer.add_vision_attention_layernorm_eps(vision.layer_norm_eps)
    writer.add_vision_image_mean(mean)
    writer.add_vision_image_std(std)
    writer.add_vision_use_gelu(vision.hidden_act == "gelu")
    _write_streamed(writer, ckpt, plan, progress)


def _claim(path: Path, force: bool) -> None:
    """Refuse to replace a file unless forced (checked for every output before any is written)."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it")


def convert(
    hf_dir: Path | str,
    outdir: Path | str,
    *,
    name: str | None = None,
    outtype: str = "f16",
    quant: str = "Q4_K_M",
    mmproj_quant: str = "none",
    allow_pickle: bool = False,
    force: bool = False,
    progress: bool = False,
) -> ConvertedFiles:
    """Convert a llava-hf checkpoint; returns the written paths."""
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {OUTTYPES}, got {outtype!r}")
    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {QUANTS}, got {quant!r}")
    if mmproj_quant not in ("none", *MMPROJ_QUANTS):
        raise ValueError(f"mmproj_quant must be one of {('none', *MMPROJ_QUANTS)}, got {mmproj_quant!r}")
    hf_dir, outdir = Path(hf_dir), Path(outdir)
    ckpt = Checkpoint(hf_dir, allow_pickle=allow_pickle)
    config = _resolved_config(hf_dir)
    name = name or hf_dir.resolve().name
    outdir.mkdir(parents=True, exist_ok=True)
    lm = outdir / f"{name}-{outtype}.gguf"
    mmproj = outdir / f"{name}-mmproj-{outtype}.gguf"
    quantized = outdir / f"{name}-{quant}.gguf" if quant != "none" else None
    jobs = [(lm, lambda tmp: write_lm(ckpt, config, tmp, outtype, name, progress)),
            (mmproj, lambda tmp: write_mmproj(ckpt, config, tmp, outtype, name, progress))]
    if quantized is not None:
        from esmc_desktop.mllm.quantize import quantize

        jobs.append((quantized, lambda tmp: quantize(lm, tmp, quant)))
    mmproj_quantized = outdir / f"{name}-mmproj-{mmproj_quant}.gguf" if mmproj_quant != "none" else None
    if mmproj_quantized is not None:
        from esmc_desktop.mllm.quantize import quantize_mmproj

        jobs.append((mmproj_quantized, lambda tmp: quantize_mmproj(mmproj, tmp, mmproj_quant)))
    for final, _ in jobs:
        _claim(final, force)
    for final, job in jobs:
        with atomic_path(final) as tmp:
            job(tmp)
    return ConvertedFiles(lm, mmproj, quantized, mmproj_quantized)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert a Hugging Face LLaVA-1.5 checkpoint to GGUF (LM + mmproj + Q4_K_M).")
    parser.add_argument("hf_dir", type=Path, help="llava-hf checkpoint folder (config.json, *.safetensors, tokenizer.model)")
    parser.add_argument("--outdir", type=Path, required=True, help="folder for the GGUF files")
    parser.add_argument("--name", help="file name stem (default: the checkpoint folder's name)")
    parser.add_argument("--outtype", choices=OUTTYPES, default="f16", help="precision of the LM and mmproj files")
    parser.add_argument("--quant", choices=QUANTS, default="Q4_K_M", help="also write a quantized LM")
    parser.add_argument("--mmproj-quant", choices=("none", *MMPROJ_QUANTS), default="none",
                        help="also write the mmproj quantized (Q8_0: 0.3 GB less memory for LLaVA-1.5-7b)")
    parser.add_argument("--allow-pickle", action="store_true", help="accept pytorch_model*.bin (pickle) weights")
    parser.add_argument("--force", action="store_true", help="replace output files that already exist")
    args = parser.parse_args(argv)
    try:
        files = convert(args.hf_dir, args.outdir, name=args.name, outtype=args.outtype, quant=args.quant,
                        mmproj_quant=args.mmproj_quant, allow_pickle=args.allow_pickle, force=args.force, progress=True)
    except (CheckpointError, FileExistsError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in files.paths():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
