"""Learning from corrections in the window (offscreen), on photos the shipped demo model sorts for real.

Six colours sorted into three clusters: some clusters hold two colours. Two photos of one
of them dragged onto New cluster, then Apply corrections, should pull the rest of that
colour after them.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from esmc_desktop.app.corrections import least_certain  # noqa: E402
from esmc_desktop.app.review import photos_in_doubt  # noqa: E402
from esmc_desktop.gui.learn_panel import CHANGED, UNCERTAIN  # noqa: E402
from esmc_desktop.gui.photo_model import PLACED_ROLE  # noqa: E402
from esmc_desktop.method.head import ClusteringHead  # noqa: E402
from tests.test_gui import (drag_photos_onto_cluster, export_and_wait, own_settings,  # noqa: E402,F401 (fixtures)
                            sort_generated_photos, window)


@pytest.fixture
def colours(window, qtbot, tmp_path) -> dict[int, str]:
    """24 photos sorted by colour into 3 clusters; each photo's true colour by photo index."""
    photos = sort_generated_photos(window, qtbot, tmp_path / "photos", 24, 3, "color of the object", 3)
    truth = {p.name: spec.color for p, spec in photos}
    return {i: truth[photo.path.name] for i, photo in enumerate(window.result.photos)}


def drop_on_new_cluster(view, rows: list[int]) -> bool:
    """The drag-enter and drop events a mouse drag of these grid rows onto New cluster produces; True if taken."""
    mime = view.model.mimeData([view.model.index(r) for r in rows])
    point = view.new_cluster.rect().center()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    for event in (QDragEnterEvent(point, *args), QDropEvent(QPointF(point), *args)):
        QApplication.sendEvent(view.new_cluster, event)
        if not event.isAccepted():
            return False
    return True


def start_a_cluster_of_its_own(window, colours) -> list[int]:
    """Drag two photos of a colour that shares its cluster with another colour onto New cluster."""
    view, crit = window.view(0), window.result.criterion(0)
    mixed = next(k for k in range(len(crit.names)) if len({colours[p] for p in crit.members(k)}) > 1)
    view.clusters.setCurrentRow(mixed)
    colour = Counter(colours[p] for p in crit.members(mixed)).most_common()[-1][0]
    rows = [r for r, p in enumerate(view.shown_photos()) if colours[p] == colour][:2]
    placed = [view.shown_photos()[r] for r in rows]
    assert drop_on_new_cluster(view, rows)
    return placed


def apply_and_wait(window, qtbot) -> None:
    view = window.view(0)
    view.learn.apply_button.click()
    assert not view.photos.isEnabled(), "the step runs in a background job; the criterion waits for it"
    qtbot.waitUntil(lambda: view.photos.isEnabled(), timeout=60_000)


def test_apply_corrections_re_sorts_untouched_photos_and_the_changed_view_says_from_where_to_where(
        window, qtbot, colours):
    view, crit = window.view(0), window.result.criterion(0)
    placed = start_a_cluster_of_its_own(window, colours)
    new = len(crit.names) - 1
    assert crit.names[new] == "new cluster" and all(crit.labels[p] == new for p in placed)
    view.clusters.setCurrentRow(new)
    assert [view.model.index(r).data(PLACED_ROLE) for r in range(view.model.rowCount())] == [True, True]
    assert "placed by you" in view.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    names, labels = list(crit.names), list(crit.labels)

    apply_and_wait(window, qtbot)

    changed = [p for p in range(len(labels)) if crit.labels[p] != labels[p]]
    assert changed, "the colour's other photos follow the two placed in the new cluster"
    assert all(crit.labels[p] == new for p in placed), "photos the user placed stay where they were put"
    assert set(changed).isdisjoint(placed)
    assert f"{len(changed)} other photos changed cluster" in window.status.text()
    assert view.reviewing == CHANGED and view.shown_photos() == changed
    assert [view.model.index(r).data() for r in range(len(changed))] == \
        [f"{names[labels[p]]} → {crit.names[crit.labels[p]]}" for p in changed]
    assert view.learn.review.item(0).text() == f"Changed by learning ({len(changed)})"
    assert view.learn.undo_button.isEnabled() and window.result.edited


def test_undo_learning_puts_back_the_clusters_the_photos_and_the_head(window, qtbot, colours):
    crit = window.result.criterion(0)
    placed = start_a_cluster_of_its_own(window, colours)
    names, labels, confidences, head = list(crit.names), list(crit.labels), list(crit.confidences), crit.weights
    apply_and_wait(window, qtbot)
    assert crit.labels != labels and crit.weights is not head

    window.menus.undo_learning_action.trigger()  # on the criterion's tab, shown

    assert (crit.names, crit.labels, crit.confidences) == (names, labels, confidences) and crit.weights is head
    assert crit.placed == set(placed) and "Undid the learning step" in window.status.text()
    view = window.view(0)
    assert view.changes is None and not view.learn.undo_button.isEnabled() and view.shown_photos() == []


def test_least_certain_lists_the_photos_to_correct_first_and_a_corrected_one_leaves_the_list(window, qtbot,
                                                                                              colours):
    view, crit = window.view(0), window.result.criterion(0)
    window.tabs.setCurrentIndex(0)  # All photos
    window.menus.uncertain_action.trigger()
    assert window.status.text().startswith("Choose a criterion's tab first")
    window.tabs.setCurrentWidget(view)
    window.menus.apply_action.trigger()
    assert "No photo of 'color of the object' was moved by hand yet" in window.status.text()
    assert not view.learn.apply_button.isEnabled()
    window.menus.uncertain_action.trigger()
    listed = view.shown_photos()
    doubts = photos_in_doubt(window.result, 0)
    assert view.reviewing == UNCERTAIN and listed == [d.photo for d in doubts]
    assert 0 < len(listed) < len(crit.labels) // 2, "a short list, not the folder"
    assert listed == least_certain(window.result, 0)[:len(listed)], "least certain first"
    if not all(d.doubtful for d in doubts):  # this confident head: the least certain 5%
        assert len(listed) == 2 and "the least certain 5%" in view.why.text()
    first = view.model.index(0)
    confidence = crit.confidences[listed[0]]
    runner_up = crit.names[doubts[0].runner_up]
    assert runner_up != crit.names[crit.labels[listed[0]]]
    assert first.data() == f"{crit.names[crit.labels[listed[0]]]} {confidence:.2f} or {runner_up}"
    assert f"confidence {confidence:.2f}" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert f"Runner-up: {runner_up}" in first.data(Qt.ItemDataRole.ToolTipRole)

    view.select_photos([0])
    view.move_menu().actions()[1].trigger()  # after "Move to the runner-up", every cluster: the list spans them all
    assert listed[0] in crit.placed and listed[0] not in view.shown_photos()
    assert view.learn.apply_button.isEnabled()


def test_one_key_moves_a_photo_in_doubt_to_its_runner_up_and_a_digit_to_that_cluster(window, qtbot, colours):
    view, crit = window.view(0), window.result.criterion(0)
    window.tabs.setCurrentWidget(view)
    window.menus.uncertain_action.trigger()
    doubts = photos_in_doubt(window.result, 0)
    view.select_photos([0])
    view.photos.setFocus()
    qtbot.keyClick(view.photos, Qt.Key.Key_R)
    assert crit.labels[doubts[0].photo] == doubts[0].runner_up and doubts[0].photo in crit.placed
    view.open_cluster(0)
    photo = view.shown_photos()[0]
    view.select_photos([0])
    qtbot.keyClick(view.photos, Qt.Key.Key_2)
    assert crit.labels[photo] == 1 and photo in crit.placed


def test_without_confidence_figures_the_window_says_so_instead_of_numbers(window, qtbot, colours):
    crit = window.result.criterion(0)
    # An MLP that learned nothing: the head falls back to nearest centroids, as the pipeline then hands it over.
    # One hidden unit and no learning: the logits are the random output biases plus a term of about 0.01, so the
    # argmax cannot spread over every cluster.
    fallback = ClusteringHead(len(crit.names), seed=0, epochs=1, learning_rate=1e-9,
                              hidden=1).fit(crit.reading.vectors)
    assert not fallback.used_head_
    crit.weights = fallback.weights_
    crit.labels[:], crit.confidences[:] = fallback.labels_.tolist(), fallback.confidences_.tolist()
    window.show_result(window.result)
    view = window.view(0)

    view.open_cluster(0)
    view.photos.setCurrentIndex(view.model.index(0))
    assert "confidence not known" in view.photo_why.text()
    assert "confidence not known" in view.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    window.menus.uncertain_action.trigger()
    assert "No confidence figures for 'color of the object'" in view.why.text()
    captions = [view.model.index(r).data() for r in range(view.model.rowCount())]
    assert captions and all(c.split(" or ")[0] in crit.names and c.split(" or ")[1] in crit.names
                            for c in captions), "cluster and runner-up names, no numbers"


def test_an_emptied_cluster_can_be_removed_and_one_with_photos_cannot(window, qtbot, colours):
    view, crit = window.view(0), window.result.criterion(0)
    head_outputs = crit.weights.w2.shape[1]
    assert not view.cluster_menu(0).actions()[0].isEnabled()
    view.clusters.setCurrentRow(0)
    assert drag_photos_onto_cluster(view, list(range(view.model.rowCount())), 1)
    others = {p: crit.names[crit.labels[p]] for p in range(len(crit.labels))}
    removed = crit.names[0]
    qtbot.waitUntil(lambda: view.clusters.item(0).data(Qt.ItemDataRole.ToolTipRole).startswith("0 photos"))

    view.cluster_menu(0).actions()[0].trigger()

    assert removed not in crit.names and len(crit.names) == head_outputs - 1 == crit.weights.w2.shape[1]
    assert {p: crit.names[crit.labels[p]] for p in range(len(crit.labels))} == others
    assert window.status.text() == f"Removed the empty cluster '{removed}'."
    qtbot.waitUntil(lambda: view.clusters.count() == len(crit.names))


def test_a_learning_step_not_exported_is_not_thrown_away_without_asking(window, qtbot, colours, tmp_path,
                                                                       monkeypatch):
    start_a_cluster_of_its_own(window, colours)
    export_and_wait(window, qtbot, tmp_path / "sorted")
    assert not window.result.edited
    apply_and_wait(window, qtbot)
    window.show()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args: asked.append(args[1]) or QMessageBox.StandardButton.No)
    assert not window.close() and asked == ["Quit?"]


def test_re_sort_all_learns_as_the_user_chose_and_says_so(window, qtbot, colours):
    """Re-sort all (button or Clusters menu): the user says most photos were wrong; Apply corrections: the default."""
    view, crit = window.view(0), window.result.criterion(0)
    placed = start_a_cluster_of_its_own(window, colours)
    assert view.learn.resort_all_button.isEnabled()
    assert "most photos were in the wrong cluster" in view.learn.resort_all_button.toolTip()

    view.learn.resort_all_button.click()
    qtbot.waitUntil(lambda: view.photos.isEnabled(), timeout=60_000)

    assert all(crit.labels[p] == len(crit.names) - 1 for p in placed), "photos the user placed stay where they were put"
    assert view.changes.resort == "all"
    assert ", re-sorting all:" in window.status.text() and ", re-sorting all:" in view.learn.summary.text()

    window.menus.undo_learning_action.trigger()
    apply_and_wait(window, qtbot)
    assert view.changes.resort == "doubtful" and "re-sorting all" not in view.learn.summary.text()

    window.menus.undo_learning_action.trigger()
    window.menus.resort_all_action.trigger()  # on the criterion's tab, shown
    qtbot.waitUntil(lambda: view.photos.isEnabled() and view.changes is not None, timeout=60_000)
    assert view.changes.resort == "all"
