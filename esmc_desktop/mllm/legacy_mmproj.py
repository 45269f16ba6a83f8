"""Detect and repair LLaVA-1.5 mmproj files from llama.cpp's legacy converter.

That converter (the one behind every widely published LLaVA-1.5 mmproj) drops
CLIP's last block and declares block_count = n - 1, because older llama.cpp
ran all declared blocks. The llama.cpp we pin runs block_count - 1 blocks (it
stops one early itself, LLaVA's "second-to-last layer"), so such a file runs
one block short (upstream report llama.cpp #25817). The legacy files are
marked by `clip.has_llava_projector = true` (which llama.cpp itself no longer
reads) and carry no `clip.vision.feature_layer`.

Repair: declare the full block count and add a placeholder last block of
zeros, which llama.cpp loads but never executes. The result runs exactly the
blocks LLaVA uses. The input file is never touched.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from esmc_desktop.mllm.gguf_edit import rewrite_gguf
from esmc_desktop.mllm.gguf_files import GgufInfo, open_reader, read_info

LEGACY_MARK = "clip.has_llava_projector"
BLOCK_COUNT = "clip.vision.block_count"
REPAIRED_MARK = "esmc.repaired_from"


def is_legacy(info: GgufInfo) -> bool:
    """A legacy LLaVA-1.5 mmproj: one CLIP block short in the llama.cpp we pin."""
    return (info.is_mmproj and bool(info.get(LEGACY_MARK, False))
            and info.get("clip.vision.feature_layer") is None
            and info.get("clip.projector_type", "mlp") == "mlp")


def legacy_advice(path: Path | str) -> str:
    return (f"{Path(path).name} is a legacy LLaVA-1.5 mmproj (written by llama.cpp's old converter): the "
            f"llama.cpp ESMC Desktop runs would use one CLIP layer too few and see images differently "
            f"from LLaVA. Make a repaired copy with: esmc-desktop models repair-mmproj "
            f"{Path(path)} {Path(path).with_name(Path(path).stem + '-repaired.gguf')}")


def repair_mmproj(src: Path | str, dst: Path | str) -> int:
    """Write a repaired copy of a legacy mmproj to `dst`; returns the new block count."""
    info = read_info(src)
    if not is_legacy(info):
        raise ValueError(f"{Path(src).name} is not a legacy LLaVA-1.5 mmproj; it needs no repair")
    n_blocks = int(info.get(BLOCK_COUNT))
    last = n_blocks - 1
    prefix = f"v.blk.{last}."
    placeholder = {
        f"v.blk.{n_blocks}." + t.name.removeprefix(prefix): (np.zeros_like(t.data), t.tensor_type)
        for t in open_reader(src).tensors if t.name.startswith(prefix)
    }
    if not placeholder:
        raise ValueError(f"{Path(src).name} has no block {last} to model the placeholder on")
    rewrite_gguf(
        src, dst,
        set_fields={BLOCK_COUNT: (n_blocks + 1, gguf.GGUFValueType.UINT32),
                    REPAIRED_MARK: (Path(src).name, gguf.GGUFValueType.STRING)},
        drop_fields=(LEGACY_MARK,),
        add_tensors=placeholder,
    )
    return n_blocks + 1
