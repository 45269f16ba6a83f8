"""The logit lens: reference definition (W_u·h, top-k, renormalized) on the GGUF's own head."""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.mllm.logit_lens import LensParams, LogitLens
from tests.reference import lm_head


def test_lens_is_the_renormalized_top_k_of_the_lm_head_applied_to_raw_states(tiny):
    lens = LogitLens.from_gguf(tiny.f32.lm, LensParams(top_k=10))
    hidden = np.random.default_rng(0).normal(size=(5, tiny.config.text_config.hidden_size)).astype(np.float32)
    out = lens.project(hidden)
    logits = hidden @ lm_head(tiny.torch_model).T
    expected_top = np.argsort(-logits, axis=1)[:, :10]
    np.testing.assert_array_equal(out.indices, expected_top)
    top_logits = np.take_along_axis(logits, expected_top, 1)
    expected = np.exp(top_logits - top_logits.max(1, keepdims=True))
    np.testing.assert_allclose(out.values, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_sparse_vectors_give_token_probabilities_and_a_csr_matrix(tiny):
    lens = LogitLens.from_gguf(tiny.f16.lm)
    out = lens.project(np.random.default_rng(1).normal(size=(3, 256)).astype(np.float32))
    csr = out.to_csr()
    assert csr.shape == (3, lens.n_vocab) and csr.nnz == 3 * 50
    np.testing.assert_allclose(np.asarray(csr.sum(axis=1)).ravel(), 1.0, rtol=1e-5)
    wanted = np.array([out.indices[0, 0], out.indices[1, 3], 99999])
    probs = out.prob_of(wanted)
    assert probs[0, 0] == pytest.approx(out.values[0, 0])
    assert probs[1, 1] == pytest.approx(out.values[1, 3])
    assert (probs[:, 2] == 0).all()


def test_unembedding_cache_is_reused(tmp_path, tiny):
    first = LogitLens.from_gguf(tiny.f16.lm, cache_dir=tmp_path)
    cached = list(tmp_path.glob("unembedding-*.npy"))
    assert len(cached) == 1
    second = LogitLens.from_gguf(tiny.f16.lm, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.w, second.w)


def test_impossible_lens_parameters_are_refused(tiny):
    with pytest.raises(ValueError, match="top_k"):
        LensParams(top_k=0)
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        LogitLens.from_gguf(tiny.f16.lm, LensParams(top_k=100000))
