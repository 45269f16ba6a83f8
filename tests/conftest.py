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
from models.tiny_llava import TinyLlavaSpec, build_tiny_llava, sample_image


@dataclass(frozen=True)
class TinyModel:
    hf_dir: Path
    torch_model: object
    f32: ConvertedFiles
    f16: ConvertedFiles  # .quantized is the Q4_K_M file

    @property
    def config(self):
        return self.torch_model.config


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """What the tests cache (vectors, the CPU weight layout verdicts) stays out of the user's own cache folder."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache-home")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModel:
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_llava(root / "hf", TinyLlavaSpec())
    f32 = convert(root / "hf", root / "gguf", name="tiny", outtype="f32", quant="none")
    f16 = convert(root / "hf", root / "gguf", name="tiny", outtype="f16", quant="Q4_K_M")
    return TinyModel(root / "hf", model, f32, f16)


@pytest.fixture
def image() -> np.ndarray:
    return sample_image(0)


LLAMA_VOCAB = Path(__file__).parent / "data" / "ggml-vocab-llama-spm.gguf"


@pytest.fixture(scope="session")
def llama_vocab():
    """LLaMA's real 32,000-token vocabulary (Vicuna-7B's, so LLaVA-1.5-7b's), through llama.cpp: tests/data/."""
    from esmc_desktop.mllm.vocabulary import Vocabulary

    with Vocabulary(LLAMA_VOCAB) as vocab:
        yield vocab
