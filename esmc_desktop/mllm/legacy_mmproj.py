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

from esmc_desktop.errors import ModelFileError
from esmc_desktop.mllm.gguf_edit import rewrite_gguf
from esmc_desktop.mllm.gguf_files import LEGACY_MARK, VISION_BLOCK_COUNT, is_legacy, open_reader, read_info

REPAIRED_MARK = "esmc.repaired_from"


def repair_mmproj(src: Path | str, dst: Path | str) -> int:
    """Write a repaired copy of a legacy mmproj to `dst`; returns the new block count."""
    info = read_info(src)
    if not is_legacy(info):
        raise ModelFileError(f"{Path(src).name} is not a legacy LLaVA-1.5 mmproj; it needs no repair")
    n_blocks = int(info.get(VISION_BLOCK_COUNT))
    last = n_blocks - 1
    prefix = f"v.blk.{last}."
    placeholder = {
        f"v.blk.{n_blocks}." + t.name.removeprefix(prefix): (np.zeros_like(t.data), t.tensor_type)
        for t in open_reader(src).tensors if t.name.startswith(prefix)
    }
    if not placeholder:
        raise ModelFileError(f"{Path(src).name} has no block {last} to model the placeholder on")
    rewrite_gguf(
        src, dst,
        set_fields={VISION_BLOCK_COUNT: (n_blocks + 1, gguf.GGUFValueType.UINT32),
                    REPAIRED_MARK: (Path(src).name, gguf.GGUFValueType.STRING)},
        drop_fields=(LEGACY_MARK,),
        add_tensors=placeholder,
    )
    return n_blocks + 1
