"""Bad files and parameters give a clear exception, never a crash or a hang."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from convert.llava_to_gguf import convert
from esmc_desktop.errors import ImageError, ModelFileError, PromptTooLongError
from esmc_desktop.mllm.gguf_edit import rewrite_gguf
from esmc_desktop.mllm.gguf_files import GgufFile
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


def mappings_of(path: Path) -> int:
    """How many memory mappings of `path` this process holds (llama.cpp maps a model's weights from its file)."""
    with open("/proc/self/maps") as maps:
        return sum(line.rstrip("\n").endswith(str(path)) for line in maps)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process's mappings in /proc/self/maps")
def test_a_projector_llama_cpp_cannot_load_frees_the_model_and_context_already_loaded(tmp_path, tiny):
    # its header passes every check, but llama.cpp's CLIP loader needs the head count
    headless = tmp_path / "mmproj-no-heads.gguf"
    rewrite_gguf(tiny.f16.mmproj, headless, drop_fields=("clip.vision.attention.head_count",))
    lm = GgufFile(tiny.f16.lm)
    lm.info  # gguf-py's own mapping of the file, held from here on
    before = mappings_of(tiny.f16.lm)
    with LlavaRuntime(lm, tiny.f16.mmproj, n_ctx=256):
        assert mappings_of(tiny.f16.lm) > before, "a loaded model maps its weights from the file"
    assert mappings_of(tiny.f16.lm) == before
    for _ in range(3):
        with pytest.raises(ModelFileError, match="llama.cpp could not load the vision projector") as failed:
            LlavaRuntime(lm, headless, n_ctx=256)
        # the failed constructor's frames are still alive (the traceback), yet nothing of the model is mapped
        assert failed.traceback and mappings_of(tiny.f16.lm) == before


def test_a_projector_without_its_second_linear_layer_is_refused_in_a_sentence(tmp_path, tiny):
    """llama.cpp takes mm.2 as optional (Yi-type LLaVA) and would crash the process on a LLaVA-1.5 file without it."""
    cut = tmp_path / "mmproj-no-mm2.gguf"
    rewrite_gguf(tiny.f16.mmproj, cut, drop_tensors=("mm.2.weight",))
    with pytest.raises(ModelFileError, match="lacks the projector tensor mm.2.weight"):
        LlavaRuntime(tiny.f16.lm, cut, n_ctx=256)


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
