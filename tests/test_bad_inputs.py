"""Bad files and parameters give a clear exception, never a crash or a hang."""

from __future__ import annotations


import numpy as np
import pytest

from convert.llava_to_gguf import convert
from esmc_desktop.errors import ImageError, ModelFileError, PromptTooLongError
from esmc_desktop.mllm.runtime import LlavaRuntime
from models.tiny_llava import TinyLlavaSpec, build_tiny_llava


def test_missing_model_file(tmp_path, tiny):
    with pytest.raises(ModelFileError, match="not found"):
        LlavaRuntime(tmp_path / "nope.gguf", tiny.f16.mmproj)


def test_truncated_gguf(tmp_path, tiny):
    cut = tmp_path / "cut.gguf"
    data = tiny.f16.lm.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated|damaged"):
        LlavaRuntime(cut, tiny.f16.mmproj)


def test_text_file_renamed_gguf(tmp_path, tiny):
    fake = tmp_path / "model.gguf"
    fake.write_text("this is a shopping list, not a model\n")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        LlavaRuntime(fake, tiny.f16.mmproj)


def test_files_swapped(tiny):
    with pytest.raises(ModelFileError, match="vision projector"):
        LlavaRuntime(tiny.f16.mmproj, tiny.f16.lm)


def test_mmproj_whose_output_width_differs_from_the_lm(tmp_path, tiny):
    other = build_tiny_llava(tmp_path / "wide", TinyLlavaSpec(text_hidden=128, text_ffn=256))
    del other
    files = convert(tmp_path / "wide", tmp_path / "gguf", name="wide", quant="none")
    with pytest.raises(ModelFileError, match="width 128.*width 256|not a pair"):
        LlavaRuntime(tiny.f16.lm, files.mmproj)


def test_image_that_is_not_rgb(tiny):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as rt:
        with pytest.raises(ImageError, match="RGB"):
            rt.run(np.zeros((10, 10), np.uint8), ["The color is"])


def test_undecodable_image_file(tmp_path, tiny):
    from esmc_desktop.photos.decode import load_rgb

    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError, match="photo.jpg"):
        load_rgb(broken)


def test_prompt_longer_than_the_context(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=64) as rt:
        with pytest.raises(PromptTooLongError, match="context"):
            rt.run(image, ["red green blue " * 40])
        assert rt.run(image, ["The color is"]).prompts  # the runtime is still usable


def test_layer_out_of_range(tiny):
    with pytest.raises(ValueError, match="out of range"):
        LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, layers=[99])


def test_image_without_mmproj(tiny, image):
    with LlavaRuntime(tiny.f16.lm, n_ctx=256) as rt:
        with pytest.raises(ModelFileError, match="mmproj"):
            rt.run(image, ["The color is"])


def test_a_closed_runtime_raises_instead_of_crashing(tiny, image):
    rt = LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256)
    rt.close()
    with pytest.raises(RuntimeError, match="closed"):
        rt.token_text(1)
    with pytest.raises(RuntimeError, match="closed"):
        rt.run(image, ["The color is"])
