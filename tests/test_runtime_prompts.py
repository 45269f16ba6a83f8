"""The chat templates' token ids; several prompts on one photo share its decoded image prefix and change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, TEMPLATES, get_template
from esmc_desktop.mllm.runtime import LlavaRuntime, context_size

PROMPTS = ["The color of the object is", "The shape of the object is", "What is in the background?"]


def test_prompts_together_equal_prompts_apart_and_the_image_is_decoded_once(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as rt:
        together = rt.run(image, PROMPTS)
        assert rt.stats.images_encoded == 1
        assert rt.stats.image_tokens_decoded == together.n_image_tokens
        assert rt.stats.text_tokens_decoded == sum(len(p.token_ids) for p in together.prompts)
        apart = [rt.run(image, [p]).prompts[0] for p in PROMPTS]
        assert rt.stats.images_encoded == 1 + len(PROMPTS)
    for joint, alone in zip(together.prompts, apart):
        assert joint.tokens == alone.tokens
        np.testing.assert_allclose(joint.hidden, alone.hidden, rtol=1e-5, atol=1e-5)


def test_more_prompts_than_sequences_are_decoded_in_groups_on_one_image_decode(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256, max_prompts=2) as rt:
        run = rt.run(image, PROMPTS)
        assert rt.stats.images_encoded == 1
        single = rt.run(image, [PROMPTS[2]]).prompts[0]
    assert [p.prompt for p in run.prompts] == PROMPTS
    np.testing.assert_allclose(run.prompts[2].hidden, single.hidden, rtol=1e-5, atol=1e-5)


def test_hidden_states_cover_every_text_token_after_the_image_for_each_requested_layer(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256, layers=[1, 3]) as rt:
        states = rt.run(image, [PROMPTS[0]]).prompts[0]
        n_embd = rt.n_embd
    assert states.layers == (1, 3)
    assert states.hidden.shape == (2, len(states.token_ids), n_embd)
    assert "".join(states.tokens).strip().startswith("The color of the object is")
    assert np.isfinite(states.hidden).all()


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_whole_sequence_has_the_hugging_face_tokenizers_ids_image_tokens_aside(tiny, image, name):
    """LLaVA-1.5 was trained with the legacy SentencePiece Llama tokenizer, each text chunk around the image
    tokenized on its own (LLaVA's tokenizer_image_token), so a "▁" comes before the "\n" after the image;
    `legacy=True` is that tokenizer (AutoTokenizer in transformers 5 converts this tiny model's sentencepiece
    file without even the first word's "▁", unlike sentencepiece itself)."""
    from transformers import LlamaTokenizer

    template = get_template(name)
    hf = LlamaTokenizer.from_pretrained(tiny.hf_dir, legacy=True)
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=512, template=name) as rt:
        run = rt.run(image, [PROMPTS[0]])
        text_only = rt.tokenize(template.text(PROMPTS[0]), add_bos=True)
    image_id = tiny.config.image_token_index
    assert run.prefix_ids + [image_id] + run.prompts[0].token_ids == hf(template.full(PROMPTS[0])).input_ids
    assert text_only == hf(template.text(PROMPTS[0])).input_ids
    assert run.prefix_ids[0] == hf.bos_token_id


def test_the_default_template_is_esmcs_llava_v1_with_the_system_prompt():
    assert DEFAULT_TEMPLATE == "llava-v1"
    assert get_template("llava-v1").full("The color of the car is") == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions. USER: <image>\nThe color of the car is ASSISTANT:")
    assert get_template("llava-hf").full("The color of the car is") == (
        "USER: <image>\nThe color of the car is ASSISTANT:")
    assert get_template("llava-hf").text("What are common colors?") == "USER: What are common colors? ASSISTANT:"
    with pytest.raises(ValueError, match="llava-v1, llava-hf"):
        get_template("vicuna")


def test_the_default_context_is_what_one_photo_and_its_prompts_need():
    """LLaVA-1.5-7b's 576 image tokens, its system prompt and up to 3 criteria fit 768 tokens: the KV cache
    of a 7B costs 0.5 MiB a token, so a fixed 256-token room (1024) would hold 128 MiB more for nothing."""
    assert context_size(576, max_prompts=1) == context_size(576, max_prompts=3) == 768
    assert context_size(576, max_prompts=8) == 1024


def test_prompts_longer_than_the_default_context_holds_at_once_are_decoded_in_groups(tiny, image):
    long = [f"Look closely: {p} and nothing else, in one word, please" for p in PROMPTS]
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, max_prompts=len(long)) as rt:
        run = rt.run(image, long)
        assert rt.stats.images_encoded == 1
        room = rt.n_ctx - rt.n_image_tokens - len(run.prefix_ids)
        alone = rt.run(image, long[-1:]).prompts[0]
    assert sum(len(p.token_ids) for p in run.prompts) > room  # not all at once: in groups
    assert [p.prompt for p in run.prompts] == long
    np.testing.assert_allclose(run.prompts[-1].hidden, alone.hidden, rtol=1e-5, atol=1e-5)
