"""Session fixtures: a tiny random LLaVA in the llava-hf layout and its GGUF conversions.

Built once per test session from fixed seeds through the real converter, so
every test runs the real llama.cpp on real files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from convert.llava_to_gguf import ConvertedFiles, convert
from models.tiny_llava import TinyLlavaSpec, build_tiny_llava


@dataclass(frozen=True)
class TinyModel:
    hf_dir: Path
    torch_model: object
    f32: ConvertedFiles
    f16: ConvertedFiles  # .quantized is the Q4_K_M file

    @property
    def config(self):
        return self.torch_model.config


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModel:
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_llava(root / "hf", TinyLlavaSpec())
    f32 = convert(root / "hf", root / "gguf", name="tiny", outtype="f32", quant="none")
    f16 = convert(root / "hf", root / "gguf", name="tiny", outtype="f16", quant="Q4_K_M")
    return TinyModel(root / "hf", model, f32, f16)


def sample_image(seed: int = 0, size: int = 56) -> np.ndarray:
    """A smooth random RGB image (blobs, not per-pixel noise), like a photo at low resolution."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 7, size // 7, 3))
    img = np.kron(coarse, np.ones((7, 7, 1)))
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.7 * img + 0.3 * np.stack([xx, yy, 1 - xx], axis=-1)
    return (img * 255).clip(0, 255).astype(np.uint8)


@pytest.fixture
def image() -> np.ndarray:
    return sample_image(0)
