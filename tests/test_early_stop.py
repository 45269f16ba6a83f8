"""Only what is read is computed: llama.cpp's graph stops after the deepest block read, and nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.mllm.capture import HiddenStateCapture
from esmc_desktop.mllm.generate import generate
from esmc_desktop.mllm.runtime import LlavaRuntime

PROMPTS = ["The color of the object is", "What is in the background?"]


@pytest.mark.parametrize("layers", [[1], [0, 2], [3]])
def test_hidden_states_of_a_stopped_run_are_identical_to_a_full_run(tiny, image, layers):
    runs = {}
    for early_stop in (False, True):
        with LlavaRuntime(tiny.f32.lm, tiny.f32.mmproj, layers=layers, early_stop=early_stop) as rt:
            runs[early_stop] = [rt.run(image, PROMPTS), rt.run(image, PROMPTS[:1])]
            text = rt.run_text("a red circle on grass")
            assert rt.early_stop is early_stop
            assert rt.stats.early_stopped_runs == (3 if early_stop else 0)
            runs[early_stop].append(text)
    full, stopped = runs[False], runs[True]
    for a, b in zip(full[:2], stopped[:2]):
        for pa, pb in zip(a.prompts, b.prompts):
            assert pa.layers == pb.layers == tuple(layers)
            np.testing.assert_array_equal(pa.hidden, pb.hidden)
    np.testing.assert_array_equal(full[2].hidden, stopped[2].hidden)


def test_generation_after_a_stopped_run_still_computes_the_whole_model(tiny, image):
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, layers=[0]) as rt:
        before = generate(rt, "What is this?", image, max_tokens=4)
        rt.run(image, PROMPTS)
        assert generate(rt, "What is this?", image, max_tokens=4) == before


def test_a_llama_cpp_that_computes_past_the_stop_is_noticed():
    capture = HiddenStateCapture(())
    capture.stop_after = 1
    graph = [b"attn_norm-0", b"l_out-0", b"attn_norm-1", b"l_out-1"]
    asked = [name for name in graph if capture.on_node(name, ask=True)]
    assert asked == [b"l_out-1"] and capture.on_node(b"l_out-1", ask=False) is False
    assert not capture.stop_ignored
    capture.on_node(b"attn_norm-2", ask=True)
    capture.on_node(b"l_out-2", ask=True)  # a llama.cpp that went on after being told to stop
    assert capture.stop_ignored


def test_the_lm_head_after_the_last_block_counts_as_computing_past_the_stop():
    capture = HiddenStateCapture(())
    capture.stop_after = 3
    capture.on_node(b"result_output", ask=True)
    assert capture.stop_ignored
