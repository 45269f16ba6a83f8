"""Apply corrections in the window: photos moved by hand teach the head; undo puts everything back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from esmc_desktop.app.corrections import apply_corrections, least_certain, undo_corrections
from esmc_desktop.app.result import SortResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.method.head import ClusteringHead
from esmc_desktop.method.localization import Localization
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.photos.scan import Photo
from esmc_desktop.engine.types import Clustering, ClusterResult, Criterion, CriterionResult, Reading
from tests.synthetic_lens import make_photos


@pytest.fixture
def result() -> SortResult:
    """A clustering of synthetic lens vectors as the pipeline hands it to the window."""
    synthetic = make_photos(200, seed=5, signal=(0.1, 0.6))
    X = synthetic.target_vectors("color")
    head = ClusteringHead(4, seed=0).fit(X)
    where = Localization(5, 3, np.zeros((8, 6)), np.zeros((8, 6)), 10, False, "planted")
    criterion = CriterionResult(Reading(Criterion("color", 4), "The color is", ["red"], where, X),
                                Clustering(head.labels_, head.confidences_, ["a", "b", "c", "d"], [[], [], [], []],
                                           head.weights_))
    photos = [Photo(Path(f"photo-{i}.png"), f"{i:064x}", 1) for i in range(synthetic.n)]
    return SortResult(ClusterResult(Path("."), photos, [], [criterion], "model", LensParams(), 0), Path("lm.gguf"),
                      Path("mmproj.gguf"))


def test_apply_corrections_resorts_untouched_photos_and_undo_puts_everything_back(result):
    crit = result.criterion(0)
    before = (list(crit.names), list(crit.labels), list(crit.confidences), result.criterion(0).weights)
    moved = least_certain(result, 0)[:6]
    for photo in moved:
        result.move(0, photo, (crit.labels[photo] + 1) % 4)
    placed = {photo: crit.labels[photo] for photo in moved}
    labels_after_moves = list(crit.labels)

    step = apply_corrections(result, 0)

    assert all(crit.labels[p] == c for p, c in placed.items())  # what the user placed stays
    assert step.changed == [i for i in range(len(crit.labels))
                            if crit.labels[i] != labels_after_moves[i]]  # the "changed" view
    assert not set(step.changed) & set(moved)
    assert result.criterion(0).weights is not before[3]  # an export saves the learnt head
    assert least_certain(result, 0)[-len(moved):] == sorted(moved)  # placed photos are not asked about

    undo_corrections(result, step)
    assert crit.labels == labels_after_moves and crit.names == before[0]
    assert result.criterion(0).weights is before[3] and crit.placed == set(moved)


def test_a_new_cluster_made_by_hand_is_learnt_and_an_emptied_one_goes(result):
    crit = result.criterion(0)
    new = result.add_cluster(0, "my new cluster")
    for photo in [i for i, c in enumerate(crit.labels) if c == 0][:5]:
        result.move(0, photo, new)
    for photo in [i for i, c in enumerate(crit.labels) if c == 3]:
        result.move(0, photo, 2)
    step = apply_corrections(result, 0)
    assert crit.names == ["a", "b", "c", "my new cluster"] and step.removed == ["d"]
    assert result.criterion(0).weights.w2.shape[1] == 4
    assert crit.labels.count(3) >= 5 and max(crit.labels) == 3


def test_an_unknown_resort_choice_is_said_in_words_and_changes_nothing(result):
    crit = result.criterion(0)
    photo = least_certain(result, 0)[0]
    result.move(0, photo, (crit.labels[photo] + 1) % 4)
    labels, head = list(crit.labels), crit.weights
    with pytest.raises(EsmcError, match="resort must be one of doubtful, all, not 'everything'"):
        apply_corrections(result, 0, resort="everything")
    assert crit.labels == labels and crit.weights is head
    assert apply_corrections(result, 0, resort="all").resort == "all"


def test_nothing_moved_by_hand_is_said_in_words(result):
    with pytest.raises(EsmcError, match="no photo of 'color' was moved by hand"):
        apply_corrections(result, 0)



def test_the_photos_in_doubt_are_the_learnt_heads_after_corrections_and_the_first_heads_after_undo(result):
    from esmc_desktop.app.review import photos_in_doubt

    crit = result.criterion(0)

    def runner_ups_agree_with(head) -> bool:
        """Every photo listed in doubt names `head`'s second choice for it as the runner-up."""
        logits = head.logits(crit.reading.vectors)
        listed = photos_in_doubt(result, 0, limit=1000)
        others = [np.delete(np.arange(logits.shape[1]), crit.labels[d.photo]) for d in listed]
        return bool(listed) and all(d.runner_up == o[logits[d.photo, o].argmax()] for d, o in zip(listed, others))

    result.prepare_review()
    first = crit.weights
    assert runner_ups_agree_with(first)
    moved = [d.photo for d in photos_in_doubt(result, 0)[:4]]
    for photo in moved:
        result.move(0, photo, (crit.labels[photo] + 1) % 4)
    assert not {d.photo for d in photos_in_doubt(result, 0, limit=1000)} & set(moved)  # placed: no longer asked

    step = apply_corrections(result, 0)
    assert runner_ups_agree_with(crit.weights) and crit.weights is not first

    undo_corrections(result, step)
    assert crit.weights is first and runner_ups_agree_with(first)
