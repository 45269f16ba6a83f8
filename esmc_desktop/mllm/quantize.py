"""Quantize LLaVA's GGUF files: the language model with llama.cpp's own quantizer, the mmproj with gguf-py."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import gguf

from esmc_desktop.errors import ModelFileError
from esmc_desktop.mllm.logs import route_llama_logs

FTYPES = {"Q4_0": 2, "Q4_K_M": 15, "Q5_K_M": 17, "Q8_0": 7}  # llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers
MMPROJ_QUANTS = ("Q8_0",)
# mmproj tensors that stay as they are: llama.cpp's CLIP runs the patch embedding as a convolution (f16/f32
# only) and adds the position embedding; vectors (norms, biases) are too small to matter.
_MMPROJ_KEPT = ("v.patch_embd.weight", "v.position_embd.weight")
_FILE_TYPE = "general.file_type"
QUANTIZED_FROM = "esmc.quantized_from"  # the mmproj a quantized copy was made from (its file name)


def quantize(src: Path | str, dst: Path | str, kind: str = "Q4_K_M", threads: int | None = None) -> None:
    """Write `dst`, a `kind`-quantized copy of the f16/f32 LM GGUF `src`."""
    import llama_cpp

    if kind not in FTYPES:
        raise ValueError(f"unknown quantization {kind!r}; choose from {sorted(FTYPES)}")
    route_llama_logs()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[kind]
    params.nthread = threads or os.cpu_count() or 1
    status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if status != 0:
        raise ModelFileError(f"llama.cpp could not quantize {src} (status {status})")


def quantize_mmproj(src: Path | str, dst: Path | str, kind: str = "Q8_0") -> None:
    """Write `dst`, a copy of the mmproj `src` with its weight matrices in `kind` (llama.cpp's
    quantizer does not take CLIP files). Matrices already quantized, and those llama.cpp needs in
    f16/f32, are copied as they are."""
    from esmc_desktop.mllm.gguf_edit import rewrite_gguf
    from esmc_desktop.mllm.gguf_files import open_reader

    if kind not in MMPROJ_QUANTS:
        raise ValueError(f"unknown mmproj quantization {kind!r}; choose from {', '.join(MMPROJ_QUANTS)}")
    qtype = gguf.GGMLQuantizationType[kind]
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    floats = (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32)
    matrices = [t for t in open_reader(src).tensors if t.tensor_type in floats and len(t.shape) == 2
                and t.name not in _MMPROJ_KEPT and int(t.shape[0]) % block == 0]
    rewrite_gguf(src, dst, drop_tensors=tuple(t.name for t in matrices),
                 set_fields={_FILE_TYPE: (int(gguf.LlamaFileType[f"MOSTLY_{kind}"]), gguf.GGUFValueType.UINT32),
                             QUANTIZED_FROM: (Path(src).name, gguf.GGUFValueType.STRING)},
                 add_tensors={t.name: (gguf.quants.quantize(t.data.astype("float32"), qtype), qtype)
                              for t in matrices})
