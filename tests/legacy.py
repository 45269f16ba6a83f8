"""Make an mmproj the way llama.cpp's legacy LLaVA converter did: last CLIP block dropped, count n-1."""

from __future__ import annotations

from pathlib import Path

import gguf

from esmc_desktop.mllm.gguf_edit import rewrite_gguf
from esmc_desktop.mllm.gguf_files import read_info


def make_legacy_mmproj(full: Path, out: Path) -> Path:
    info = read_info(full)
    n = int(info.get("clip.vision.block_count"))
    rewrite_gguf(
        full, out,
        set_fields={"clip.vision.block_count": (n - 1, gguf.GGUFValueType.UINT32),
                    "clip.has_llava_projector": (True, gguf.GGUFValueType.BOOL),
                    "general.description": ("image encoder for LLaVA", gguf.GGUFValueType.STRING)},
        drop_tensors=tuple(name for name in info.tensor_types if name.startswith(f"v.blk.{n - 1}.")),
    )
    return out
