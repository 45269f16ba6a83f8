"""Read a llava-hf checkpoint one tensor at a time.

A 7B checkpoint is 14 GB in f16; the converter must never hold it whole. This
module lists tensors (name, shape, dtype) from the file headers without loading
data, and loads a single tensor on demand. It also folds the three key layouts
llava-hf checkpoints have been saved in into one canonical naming.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np


class CheckpointError(ValueError):
    """The checkpoint directory can't be converted; the message says why."""


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives and what it is, without its data."""

    name: str
    canonical: str
    file: Path
    shape: tuple[int, ...]
    dtype: str


_LAYOUT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^model\.(language_model|vision_tower|multi_modal_projector)\."), r"\1."),
    (re.compile(r"^language_model\.lm_head\."), "lm.lm_head."),
    (re.compile(r"^lm_head\."), "lm.lm_head."),
    (re.compile(r"^language_model\.model\."), "lm.model."),
    (re.compile(r"^language_model\."), "lm.model."),
    (re.compile(r"^vision_tower\.vision_model\."), "vision."),
    (re.compile(r"^vision_tower\."), "vision."),
    (re.compile(r"^multi_modal_projector\."), "projector."),
)


def canonical_name(name: str) -> str:
    """Map any llava-hf key layout to `lm.*`, `vision.*` or `projector.*`.

    Layouts seen: hub checkpoints (`language_model.model.layers...`,
    `vision_tower.vision_model...`), transformers 5 (`vision_tower.embeddings...`)
    and transformers 4.52+ (`model.language_model.layers...`, `lm_head...`).
    """
    out = name
    for pattern, repl in _LAYOUT_RULES:
        new = pattern.sub(repl, out, count=1)
        if new != out:
            out = new
            if out.startswith(("lm.", "vision.", "projector.")):
                return out
    return out


class Checkpoint:
    """A llava-hf checkpoint directory: config plus lazily read tensors."""

    def __init__(self, directory: Path | str, *, allow_pickle: bool = False) -> None:
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise CheckpointError(f"{self.dir} is not a directory")
        config_file = self.dir / "config.json"
        if not config_file.is_file():
            raise CheckpointError(f"{self.dir} has no config.json: not a Hugging Face checkpoint")
        self.config = json.loads(config_file.read_text())
        self.files = self._weight_files(allow_pickle)
        self.tensors = self._index()

    def _weight_files(self, allow_pickle: bool) -> list[Path]:
        index = self.dir / "model.safetensors.index.json"
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            files = [self.dir / s for s in shards]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise CheckpointError(f"shards named in {index.name} are missing: {', '.join(missing)}")
            return files
        files = sorted(self.dir.glob("*.safetensors"))
        if files:
            return files
        pickles = sorted(self.dir.glob("pytorch_model*.bin"))
        if pickles and not allow_pickle:
            raise CheckpointError(
                f"{self.dir} holds only pickle (.bin) weights, which can run code when loaded. "
                "Convert them to safetensors first, or pass --allow-pickle if you trust the source."
            )
        if pickles:
            return pickles
        raise CheckpointError(f"{self.dir} has no .safetensors weights")

    def _index(self) -> dict[str, TensorRef]:
        refs: dict[str, TensorRef] = {}
        for file in self.files:
            for name, shape, dtype in _list_tensors(file):
                refs[name] = TensorRef(name, canonical_name(name), file, shape, dtype)
        return refs

    def by_canonical(self) -> dict[str, TensorRef]:
        return {ref.canonical: ref for ref in self.tensors.values()}

    def load(self, ref: TensorRef) -> np.ndarray:
        """Load one tensor as float32 numpy (bf16 included), nothing else."""
        import torch

        if ref.file.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(ref.file, framework="pt") as f:
                tensor = f.get_tensor(ref.name)
        else:
            state = torch.load(ref.file, map_location="cpu", mmap=True, weights_only=True)
            tensor = state[ref.name]
        return tensor.to(torch.float32).numpy()

    def largest_tensor_bytes(self) -> int:
        sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}
        return max(int(np.prod(r.shape)) * sizes.get(r.dtype, 4) for r in self.tensors.values())


def _list_tensors(file: Path) -> Iterator[tuple[str, tuple[int, ...], str]]:
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(file, framework="pt") as f:
                for name in f.keys():
                    sl = f.get_slice(name)
                    yield name, tuple(sl.get_shape()), sl.get_dtype()
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"{file.name} is not a readable safetensors file: {exc}") from exc
        return
    import torch

    state = torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    for name, tensor in state.items():
        yield name, tuple(tensor.shape), str(tensor.dtype).removeprefix("torch.").upper()
