"""The logit lens: reference definition (W_u·h, top-k, renormalized) on the GGUF's own head."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from esmc_desktop.mllm.logit_lens import LensParams, LogitLens
from tests.reference import block_outputs, lm_head, output_logits


def test_lens_is_the_renormalized_top_k_of_the_lm_head_applied_to_raw_states(tiny):
    lens = LogitLens.from_gguf(tiny.f32.lm, LensParams(top_k=10))
    hidden = np.random.default_rng(0).normal(size=(5, tiny.config.text_config.hidden_size)).astype(np.float32)
    out = lens.project(hidden, 0)
    logits = hidden @ lm_head(tiny.torch_model).T
    expected_top = np.argsort(-logits, axis=1)[:, :10]
    np.testing.assert_array_equal(out.indices, expected_top)
    top_logits = np.take_along_axis(logits, expected_top, 1)
    expected = np.exp(top_logits - top_logits.max(1, keepdims=True))
    np.testing.assert_allclose(out.values, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_at_the_last_block_the_lens_is_the_models_own_output_distribution(tiny):
    """The model's output applies the final norm to the last block's state; so does the lens, there only."""
    lens = LogitLens.from_gguf(tiny.f32.lm, LensParams(top_k=20))
    ids = [1] + list(range(20, 26))  # BOS and six text tokens of the tiny vocabulary
    last = tiny.config.text_config.num_hidden_layers - 1
    states = block_outputs(tiny.torch_model, ids)
    logits = output_logits(tiny.torch_model, ids)
    out = lens.project(states[last], last)
    np.testing.assert_array_equal(out.indices, np.argsort(-logits, axis=1)[:, :20])
    top = np.take_along_axis(logits, out.indices, 1)
    expected = np.exp(top - top.max(1, keepdims=True))
    np.testing.assert_allclose(out.values, expected / expected.sum(1, keepdims=True), rtol=1e-3, atol=1e-5)
    # blocks before the last are read raw, as ESMC's reference code reads them
    raw = lens.project(states[last - 1], last - 1)
    np.testing.assert_array_equal(raw.indices, np.argsort(-(states[last - 1] @ lm_head(tiny.torch_model).T), axis=1)[:, :20])
    # a (blocks, tokens, width) stack is read block by block
    both = lens.project(np.stack([states[last - 1], states[last]]), [last - 1, last])
    np.testing.assert_array_equal(both.indices, np.concatenate([raw.indices, out.indices]))


def test_sparse_vectors_give_token_probabilities_and_a_csr_matrix(tiny):
    lens = LogitLens.from_gguf(tiny.f16.lm)
    out = lens.project(np.random.default_rng(1).normal(size=(3, 256)).astype(np.float32), 0)
    csr = out.to_csr()
    assert csr.shape == (3, lens.n_vocab) and csr.nnz == 3 * 50
    np.testing.assert_allclose(np.asarray(csr.sum(axis=1)).ravel(), 1.0, rtol=1e-5)
    wanted = np.array([out.indices[0, 0], out.indices[1, 3], 99999])
    probs = out.prob_of(wanted)
    assert probs[0, 0] == pytest.approx(out.values[0, 0])
    assert probs[1, 1] == pytest.approx(out.values[1, 3])
    assert (probs[:, 2] == 0).all()


@pytest.mark.parametrize("files", ["f32", "f16", "Q4_K_M"])
def test_the_lens_reads_the_head_in_its_file_form_with_the_values_of_a_full_dequantization(tiny, files):
    """W_u stays in the model file's own type (read a block of rows at a time), yet the logits are
    those of the fully dequantized f32 matrix (gguf-py's dequantizer, an independent implementation)."""
    path = {"f32": tiny.f32.lm, "f16": tiny.f16.lm, "Q4_K_M": tiny.f16.quantized}[files]
    lens = LogitLens.from_gguf(path)
    [head] = [t for t in gguf.GGUFReader(path).tensors if t.name == "output.weight"]
    w = gguf.quants.dequantize(head.data, head.tensor_type).reshape(lens.n_vocab, -1).astype(np.float32)
    hidden = np.random.default_rng(2).normal(size=(7, w.shape[1])).astype(np.float32)
    np.testing.assert_allclose(lens.logits(hidden), hidden @ w.T, rtol=1e-5, atol=1e-5)
    expected = np.argsort(-(hidden @ w.T), axis=1)[:, :50]
    np.testing.assert_array_equal(np.sort(lens.project(hidden, 0).indices, 1), np.sort(expected, 1))
    assert lens.head.nbytes == head.data.nbytes  # read in the file's own type, never held as an f32 copy
    if files == "Q4_K_M":
        assert lens.head.nbytes < w.nbytes / 4


def test_impossible_lens_parameters_are_refused(tiny):
    with pytest.raises(ValueError, match="top_k"):
        LensParams(top_k=0)
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        LogitLens.from_gguf(tiny.f16.lm, LensParams(top_k=100000))
