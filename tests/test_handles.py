"""Each llama.cpp handle has one owner that frees it once, and a model is never freed under what was made from it."""

from __future__ import annotations

import pytest

from esmc_desktop.errors import ModelFileError
from esmc_desktop.mllm.gguf_edit import rewrite_gguf
from esmc_desktop.mllm.handles import LlamaContext, LlamaModel, MtmdContext
from esmc_desktop.mllm.runtime import LlavaRuntime


def test_closing_a_model_first_closes_the_context_and_the_projector_made_from_it(tiny):
    model = LlamaModel(tiny.f16.lm)
    context = LlamaContext(model, n_ctx=256, n_seq_max=2, n_threads=1)
    projector = MtmdContext(tiny.f16.mmproj, model, use_gpu=False, n_threads=1)
    assert not (model.closed or context.closed or projector.closed)
    model.close()
    assert model.closed and context.closed and projector.closed
    for owner in (projector, context, model):
        owner.close()  # again: nothing left to free
        with pytest.raises(RuntimeError, match="closed"):
            owner.handle


def test_a_projector_that_fails_to_load_leaves_the_model_and_context_to_their_owners(tmp_path, tiny):
    headless = tmp_path / "mmproj-no-heads.gguf"
    rewrite_gguf(tiny.f16.mmproj, headless, drop_fields=("clip.vision.attention.head_count",))
    with LlamaModel(tiny.f16.lm) as model, LlamaContext(model, n_ctx=256, n_seq_max=2, n_threads=1) as context:
        with pytest.raises(ModelFileError, match=f"llama.cpp could not load the vision projector {headless}"):
            MtmdContext(headless, model, use_gpu=False, n_threads=1)
        assert not model.closed and not context.closed
        assert model.n_vocab > 0 and context.n_ctx >= 256
    assert model.closed and context.closed


def test_a_model_file_llama_cpp_cannot_load_says_which(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelFileError, match=f"llama.cpp could not load {missing}"):
        LlamaModel(missing)


def test_a_runtime_closes_twice_and_as_a_context_manager_after_close(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as rt:
        assert rt.run(image, ["The color is"]).prompts
        rt.close()
        rt.close()
        with pytest.raises(RuntimeError, match="closed"):
            rt.clear()
