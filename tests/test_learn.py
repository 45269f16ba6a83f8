"""Learning from corrections (method.learn) on synthetic lens vectors: what the user placed stays."""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.method.head import ClusteringHead
from esmc_desktop.method.learn import learn_from_corrections
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx
from esmc_desktop.method.validation import MethodInputError
from tests.synthetic_lens import make_photos, make_unsure_photos


@pytest.fixture(scope="module")
def clustered():
    photos = make_photos(300, seed=3, signal=(0.1, 0.6))
    X = photos.target_vectors("color")
    head = ClusteringHead(4, seed=0).fit(X)
    return photos, X, head


def wrong_clusters(photos, head) -> dict[int, int]:
    """Each cluster's majority colour."""
    truth = photos.labels["color"]
    return {c: int(np.bincount(truth[head.labels_ == c]).argmax()) for c in range(4)}


def test_corrected_photos_stay_and_only_untouched_photos_change(clustered):
    photos, X, head = clustered
    corrections = {i: (int(head.labels_[i]) + 1) % 4 for i in range(0, 40, 4)}  # 10 photos moved by hand
    learnt = learn_from_corrections(X, head.labels_, corrections)
    assert learnt.kept == [0, 1, 2, 3]
    for photo, cluster in corrections.items():
        assert learnt.labels[photo] == cluster and learnt.confidences[photo] == 1.0
    untouched = np.setdiff1d(np.arange(photos.n), list(corrections))
    changed = untouched[learnt.labels[untouched] != head.labels_[untouched]]
    np.testing.assert_array_equal(learnt.changed, changed)
    assert not set(learnt.changed) & set(corrections)
    probability = learnt.confidences[untouched]
    assert ((probability > 0) & (probability <= 1)).all()


def test_a_few_corrections_move_the_look_alikes_of_the_corrected_photos(clustered):
    photos, X, _ = clustered
    truth = photos.labels["color"]
    labels = truth.copy()
    misplaced = np.flatnonzero(truth == 3)[::2]  # half of colour 3 sorted with colour 2: the mistake
    labels[misplaced] = 2
    corrections = {int(i): 3 for i in misplaced[:5]}  # the user puts five of them back

    learnt = learn_from_corrections(X, labels, corrections)

    untouched = np.setdiff1d(np.arange(photos.n), list(corrections))
    wrong_before = (labels[untouched] != truth[untouched]).sum()
    wrong_after = (learnt.labels[untouched] != truth[untouched]).sum()
    assert wrong_before == len(misplaced) - 5 and wrong_after <= wrong_before // 4
    assert all(learnt.labels[i] == 3 for i in corrections)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_photos_read_unsure_and_sorted_together_go_to_their_own_clusters_after_a_few_corrections(seed):
    X, colours, unsure = make_unsure_photos(240, seed=seed)
    first = ClusteringHead(4, seed=0).fit(X)
    assert first.labels_[unsure].tolist().count(np.bincount(first.labels_[unsure]).argmax()) > 0.9 * unsure.sum()
    labels = np.where(unsure, 3, colours)  # the sure photos right, every unsure photo in colour 3's cluster
    corrections = {int(i): c for c in range(3) for i in np.flatnonzero(unsure & (colours == c))[:5]}

    learnt = learn_from_corrections(X, labels, corrections)

    untouched = np.setdiff1d(np.arange(len(colours)), list(corrections))
    assert (labels[untouched] == colours[untouched]).mean() < 0.85
    assert (learnt.labels[untouched] == colours[untouched]).mean() > 0.97


def test_a_correction_into_a_new_cluster_grows_k_and_the_saved_head_knows_it(clustered, tmp_path):
    photos, X, head = clustered
    biggest = np.bincount(head.labels_).argmax()
    newcomers = np.flatnonzero(head.labels_ == biggest)[:6]
    learnt = learn_from_corrections(X, head.labels_, {int(i): 4 for i in newcomers})
    assert learnt.kept == [0, 1, 2, 3, 4] and learnt.weights.w2.shape[1] == 5
    assert (learnt.labels[newcomers] == 4).all()
    export_onnx(learnt.weights, tmp_path / "learnt.onnx", {})
    saved = OnnxHead(tmp_path / "learnt.onnx")
    np.testing.assert_allclose(saved.predict_proba(X), learnt.weights.predict_proba(X), atol=1e-5)
    assert saved.metadata["n_clusters"] == 5 and saved.has_confidence


def test_a_cluster_emptied_by_hand_is_removed(clustered):
    photos, X, head = clustered
    smallest = int(np.bincount(head.labels_).argmin())
    elsewhere = (smallest + 1) % 4
    corrections = {int(i): elsewhere for i in np.flatnonzero(head.labels_ == smallest)}
    learnt = learn_from_corrections(X, head.labels_, corrections)
    assert learnt.kept == [c for c in range(4) if c != smallest]
    assert learnt.weights.w2.shape[1] == 3 and set(learnt.labels) <= {0, 1, 2}


def test_learning_is_seeded_and_reproducible(clustered):
    _, X, head = clustered
    corrections = {3: 1, 8: 2, 13: 0}
    a = learn_from_corrections(X, head.labels_, corrections)
    b = learn_from_corrections(X, head.labels_, corrections)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.weights.w1, b.weights.w1)


@pytest.mark.parametrize("corrections, message", [
    ({}, "nothing to learn"),
    ({10_000: 1}, "does not exist"),
    ({1: -1}, "does not exist"),
])
def test_impossible_corrections_get_a_clear_error(clustered, corrections, message):
    _, X, head = clustered
    with pytest.raises(MethodInputError, match=message):
        learn_from_corrections(X, head.labels_, corrections)


def test_an_unknown_resort_choice_is_refused_before_anything_is_learnt(clustered):
    _, X, head = clustered
    with pytest.raises(MethodInputError, match="resort must be one of doubtful, all, not 'everything'"):
        learn_from_corrections(X, head.labels_, {0: 1}, resort="everything")


def test_resort_all_re_sorts_a_mostly_wrong_clustering_whose_head_was_sure_of_everything():
    """The photos split by how surely they were read, not by colour, and the head that sorted them claims
    certainty everywhere: the default trusts it and keeps every untouched photo; told the clustering was mostly
    wrong (`resort="all"`), learning re-sorts them after five corrections per colour."""
    X, colours, unsure = make_unsure_photos(200, seed=0)
    labels = unsure.astype(int)
    corrections = {int(i): c for c in range(4) for i in np.flatnonzero((colours == c) & (labels != c))[:5]}
    untouched = np.setdiff1d(np.arange(len(colours)), list(corrections))
    sure = np.ones(len(colours))

    kept = learn_from_corrections(X, labels, corrections, confidences=sure)
    resorted = learn_from_corrections(X, labels, corrections, confidences=sure, resort="all")

    assert len(kept.changed) == 0
    right_before = (labels[untouched] == colours[untouched]).mean()
    assert (resorted.labels[untouched] == colours[untouched]).mean() > right_before + 0.3
    assert all(resorted.labels[i] == c for i, c in corrections.items())


def test_corrections_leaving_one_cluster_are_refused(clustered):
    photos, X, head = clustered
    with pytest.raises(MethodInputError, match="single cluster"):
        learn_from_corrections(X, head.labels_, {i: 0 for i in range(photos.n)})


def test_confidences_are_calibrated_probabilities_and_a_centroid_head_has_none(clustered):
    photos, X, head = clustered
    assert head.weights_.has_confidence
    assert ((head.confidences_ > 0) & (head.confidences_ <= 1)).all()
    order = np.argsort(head.weights_.margins(X))
    assert head.confidences_[order[:10]].mean() <= head.confidences_[order[-10:]].mean()
    fallback = ClusteringHead(4, seed=0, epochs=1, learning_rate=1e-9).fit(X)  # an MLP that learned nothing
    assert not fallback.used_head_ and not fallback.weights_.has_confidence
    assert np.isnan(fallback.confidences_).all()
