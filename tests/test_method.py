"""The ESMC method on synthetic lens vectors with two planted criteria (no model involved)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from esmc_desktop.method.choose_k import choose_k
from esmc_desktop.method.head import ClusteringHead
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.method.localization import localize, sample_photos
from esmc_desktop.method.metrics import cluster_accuracy, scores
from esmc_desktop.method.naming import explain_clusters, name_clusters, photo_tokens, photo_words
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx
from esmc_desktop.method.validation import MethodInputError
from tests.synthetic_lens import (N_LAYERS, N_POSITIONS, N_VALUES, PLANTED, TOKEN_OF, WORDS, keyword_probs,
                                  make_photos, token_text)

CRITERIA = ("color", "shape")


@pytest.fixture(scope="module")
def photos():
    return make_photos(400, seed=0)


@pytest.fixture(scope="module")
def heads(photos):
    return {c: ClusteringHead(N_VALUES[c], seed=0).fit(photos.target_vectors(c)) for c in CRITERIA}


@pytest.mark.parametrize("criterion", CRITERIA)
def test_localization_finds_the_planted_layer_and_position(photos, criterion):
    sample = sample_photos(photos.n, 10, seed=0)
    found = localize(keyword_probs(photos, criterion, sample))
    assert (found.layer, found.position) == PLANTED[criterion]
    assert found.counts.shape == (N_LAYERS, N_POSITIONS)
    assert not found.fallback and "of 10 photos" in found.message


def test_localization_says_so_when_no_keyword_reaches_the_threshold(photos):
    probs = keyword_probs(photos, "color", sample_photos(photos.n, 5)) * 0.1
    found = localize(probs)
    assert found.fallback and "no keyword reached" in found.message
    assert (found.layer, found.position) == PLANTED["color"]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_head_recovers_each_criterion_and_ignores_the_other(photos, heads, criterion):
    other = "shape" if criterion == "color" else "color"
    assert scores(photos.labels[criterion], heads[criterion].labels_)["nmi"] >= 0.9
    assert scores(photos.labels[other], heads[criterion].labels_)["nmi"] <= 0.05
    assert ((heads[criterion].confidences_ > 0) & (heads[criterion].confidences_ <= 1)).all()
    assert heads[criterion].used_head_


def test_a_fitted_head_predicts_photos_it_never_saw_as_it_labelled_its_own(photos, heads):
    head = heads["color"]
    np.testing.assert_array_equal(head.predict(photos.target_vectors("color")), head.labels_)
    new = make_photos(120, seed=5)
    predicted = head.predict(new.target_vectors("color"))
    assert predicted.shape == (120,) and set(predicted.tolist()) <= set(range(N_VALUES["color"]))
    assert scores(new.labels["color"], predicted)["nmi"] >= 0.9
    np.testing.assert_array_equal(predicted, head.predict_proba(new.target_vectors("color")).argmax(axis=1))


def test_head_is_seeded_and_reproducible(photos):
    X = photos.target_vectors("color")
    a, b = ClusteringHead(4, seed=3).fit(X), ClusteringHead(4, seed=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.weights_.w1, b.weights_.w1)


def test_onnx_head_equals_the_in_process_head_after_save_and_reload(tmp_path, photos, heads):
    X = photos.target_vectors("color")
    path = tmp_path / "color.onnx"
    export_onnx(heads["color"].weights_, path, {"criterion": "color of the object", "layer": 5, "position": 3,
                                                "names": ["a", "b", "c", "d"], "model_fingerprint": "abc123"})
    loaded = OnnxHead(path, expected_fingerprint="abc123")
    new = make_photos(50, seed=9).target_vectors("color")  # unseen photos, some unseen tokens
    for data in (X, new):
        ours = heads["color"].predict_proba(data)
        theirs = loaded.predict_proba(data)
        np.testing.assert_allclose(theirs, ours, atol=1e-5)
        np.testing.assert_array_equal(theirs.argmax(1), ours.argmax(1))
    assert loaded.metadata["n_clusters"] == 4 and loaded.metadata["layer"] == 5


def test_onnx_head_from_another_model_is_refused(tmp_path, heads):
    path = tmp_path / "head.onnx"
    export_onnx(heads["shape"].weights_, path, {"model_fingerprint": "model-a"})
    with pytest.raises(MethodInputError, match="another model"):
        OnnxHead(path, expected_fingerprint="model-b")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(MethodInputError, match="not a readable ONNX"):
        OnnxHead(junk)


@pytest.mark.parametrize("make, message", [
    (lambda X: (X[:3], 5), "can't make 5 clusters from 3"),
    (lambda X: (X[:1], 2), "at least 2 photos"),
    (lambda X: (sparse.vstack([X[0]] * 10), 2), "same vector"),
    (lambda X: (sparse.csr_matrix(np.full((4, 8), np.nan)), 2), "NaN"),
    (lambda X: (X, 1), "at least 2"),
])
def test_bad_input_gets_a_clear_error(photos, make, message):
    X, k = make(photos.target_vectors("color"))
    with pytest.raises(MethodInputError, match=message):
        ClusteringHead(k).fit(X)


def test_choose_k_recovers_the_planted_number_of_clusters(photos):
    for criterion in CRITERIA:
        assert choose_k(photos.target_vectors(criterion), 2, 8).k == N_VALUES[criterion]


def test_cluster_names_are_the_criterion_keywords_and_unique(photos, heads):
    for criterion in CRITERIA:
        head = heads[criterion]
        X = photos.target_vectors(criterion)
        kw = {w: [TOKEN_OF[w]] for w in WORDS[criterion]}
        names = name_clusters(X, head.labels_, kw, token_text, N_VALUES[criterion])
        assert len(set(names)) == len(names)
        for cluster, name in enumerate(names):
            members = photos.labels[criterion][head.labels_ == cluster]
            assert name == WORDS[criterion][np.bincount(members).argmax()]


def test_explanations_are_exclusive_between_clusters(photos, heads):
    X = photos.target_vectors("color")
    words = photo_words(photo_tokens(X, token_text))
    explained = explain_clusters(words, heads["color"].labels_, n=2)
    flat = [w for ws in explained for w in ws]
    assert len(flat) == len(set(flat))
    assert all(ws and ws[0] in WORDS["color"] for ws in explained)


def test_metrics_match_known_values():
    truth, pred = [0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 2, 2]
    assert scores(truth, pred) == {"nmi": pytest.approx(1.0), "ri": 1.0, "ari": 1.0, "acc": 1.0}
    assert cluster_accuracy([0, 0, 1, 1], [0, 1, 0, 1]) == 0.5


@pytest.mark.parametrize("signal, flip", [((0.02, 0.25), 0.0), ((0.1, 0.6), 0.05), ((0.05, 0.4), 0.1)])
def test_head_is_at_least_as_good_as_kmeans_alone_on_noisy_variants(signal, flip):
    """Weak criterion signal, or 5-10% of photos showing another value: over six fixed draws the
    head never falls more than 0.01 NMI below the k-means it starts from (measured: -0.007..+0.006)."""
    for seed in range(6):
        noisy = make_photos(600, seed=seed, signal=signal, flip=flip)
        head = ClusteringHead(4, seed=0).fit(noisy.target_vectors("color"))
        truth = noisy.labels["color"]
        assert scores(truth, head.labels_)["nmi"] >= scores(truth, head.kmeans_labels_)["nmi"] - 0.01


def test_keywords_come_from_the_language_model_in_text_only_mode(tiny):
    from esmc_desktop.method.keywords import generate_keywords
    from esmc_desktop.mllm.generate import generate
    from esmc_desktop.mllm.runtime import LlavaRuntime

    asked = []
    with LlavaRuntime(tiny.f16.lm, n_ctx=256) as rt:
        def ask(question: str) -> str:
            asked.append(question)
            return generate(rt, question, max_tokens=16)

        words = generate_keywords("color of the object", ask)
        answer = generate(rt, asked[0], max_tokens=16)
    assert asked == ["What are common colors of objects? Answer with single words separated by commas."]
    assert words == parse_keywords(answer)


def test_a_head_that_empties_a_cluster_falls_back_to_kmeans_in_process_and_in_onnx(tmp_path, photos):
    X = photos.target_vectors("color")
    head = ClusteringHead(4, seed=0, epochs=1, learning_rate=1e-9).fit(X)  # an MLP that learned nothing
    assert not head.used_head_
    np.testing.assert_array_equal(head.labels_, head.kmeans_labels_)
    assert len(np.unique(head.labels_)) == 4 and np.isnan(head.confidences_).all()  # ~1/K would mean nothing
    export_onnx(head.weights_, tmp_path / "km.onnx", {})
    np.testing.assert_allclose(OnnxHead(tmp_path / "km.onnx").predict_proba(X), head.predict_proba(X), atol=1e-5)


def test_more_clusters_than_different_readings_is_said_in_words_and_auto_k_never_asks_for_that(recwarn):
    rows = np.repeat(np.eye(3, 8, dtype=np.float32), [4, 4, 4], axis=0)  # 12 photos, 3 different vectors
    rows[::2, 7] = 1e-7  # and differences too small to matter
    X = sparse.csr_matrix(rows)
    head = ClusteringHead(5, seed=0).fit(X)
    assert "the 12 photos read as only 3 different things" in head.note_
    assert "2 of the 5 clusters stay empty" in head.note_
    assert len(np.unique(head.labels_)) == 3
    assert ClusteringHead(3, seed=0).fit(X).note_ == ""
    assert choose_k(X).k == 3 and max(choose_k(X).scores) <= 3
    assert not [w for w in recwarn if "distinct clusters" in str(w.message)]
