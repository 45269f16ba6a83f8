"""Several prompts on one photo share its decoded image prefix and change nothing in the result."""

from __future__ import annotations

import numpy as np

from esmc_desktop.mllm.runtime import LlavaRuntime

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
