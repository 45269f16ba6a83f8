"""Every quantization the product offers runs and reads the hidden states close to the f16 file's.

Figures for the choice between them (speed, memory, agreement): benchmarks/quantization.py and
docs/memory-and-quantization.md.
"""

from __future__ import annotations

import pytest

from convert.llava_to_gguf import convert
from esmc_desktop.mllm.quantize import FTYPES, quantize, quantize_mmproj
from esmc_desktop.mllm.runtime import LlavaRuntime
from tests.reference import cosine_rows

PROMPT = "The color of the object is"
# the least cosine to the f16 file at any block and token on the tiny model (measured: 0.9998, 0.995, 0.979, 0.956)
AT_LEAST = {"Q8_0": 0.999, "Q5_K_M": 0.99, "Q4_K_M": 0.96, "Q4_0": 0.93}


def _states(lm, mmproj, image):
    with LlavaRuntime(lm, mmproj, max_prompts=1) as rt:
        return rt.run(image, [PROMPT]).prompts[0].hidden


@pytest.mark.parametrize("kind", sorted(FTYPES))
def test_each_lm_quantization_reads_states_close_to_the_f16_files(tiny, image, tmp_path, kind):
    quantized = tmp_path / f"tiny-{kind}.gguf"
    quantize(tiny.f16.lm, quantized, kind)
    assert quantized.stat().st_size < tiny.f16.lm.stat().st_size
    cos = cosine_rows(_states(quantized, tiny.f16.mmproj, image), _states(tiny.f16.lm, tiny.f16.mmproj, image))
    assert cos.min() >= AT_LEAST[kind]


def test_an_mmproj_in_q8_0_is_smaller_and_gives_the_f16_files_image_features(tiny, image, tmp_path):
    q8 = tmp_path / "tiny-mmproj-Q8_0.gguf"
    quantize_mmproj(tiny.f16.mmproj, q8, "Q8_0")
    assert q8.stat().st_size < 0.75 * tiny.f16.mmproj.stat().st_size
    features = []
    for mmproj in (tiny.f16.mmproj, q8):
        with LlavaRuntime(tiny.f16.lm, mmproj) as rt:
            features.append(rt.image_features(image))
    assert cosine_rows(*features).min() >= 0.999
    with pytest.raises(ValueError, match="Q8_0"):
        quantize_mmproj(tiny.f16.mmproj, tmp_path / "other.gguf", "Q4_K_M")


def test_the_converter_writes_the_quantizations_asked_for_and_they_run_as_a_pair(tiny, image, tmp_path):
    files = convert(tiny.hf_dir, tmp_path, name="tiny", quant="Q5_K_M", mmproj_quant="Q8_0")
    assert [p.name for p in files.paths()] == ["tiny-f16.gguf", "tiny-mmproj-f16.gguf", "tiny-Q5_K_M.gguf",
                                               "tiny-mmproj-Q8_0.gguf"]
    with LlavaRuntime(files.quantized, files.mmproj_quantized, max_prompts=1) as rt:
        assert rt.run(image, [PROMPT]).prompts[0].hidden.shape[0] == rt.n_layer
    with pytest.raises(ValueError, match="mmproj_quant"):
        convert(tiny.hf_dir, tmp_path / "other", name="tiny", mmproj_quant="Q4_0")
