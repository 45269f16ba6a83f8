"""Quantize a language-model GGUF with llama.cpp's own quantizer."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from esmc_desktop.errors import ModelFileError
from esmc_desktop.mllm.logs import route_llama_logs

FTYPES = {"Q4_K_M": 15, "Q8_0": 7}


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
