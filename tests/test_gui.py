"""The desktop window driven end to end (offscreen) with the shipped demo model."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.photos.scan import content_hash  # noqa: E402
from esmc_desktop.pipeline import RunSettings  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path):
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    w = MainWindow(lm, mmproj, cache_dir=tmp_path / "cache", settings=RunSettings(n_samples=6))
    qtbot.addWidget(w)
    return w


def add_criterion(window, text: str, k: int) -> None:
    window.criterion_edit.setText(text)
    window.k_spin.setValue(k)
    window.add_criterion()


def test_pick_folder_add_two_criteria_run_rename_move_export_and_disk_matches_the_window(window, qtbot, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", 16, seed=3, size=64)
    window.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    add_criterion(window, "background of the photo", 4)
    assert [c.text for c in window.criteria()] == ["color of the object", "background of the photo"]

    window.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    assert window.tabs.count() == 2 and window.export_button.isEnabled()
    colour = window.result.criterion(0)
    shown = {window.tree(0).topLevelItem(k).text(0): window.tree(0).topLevelItem(k).childCount()
             for k in range(window.tree(0).topLevelItemCount())}
    assert shown == {name: len(colour.members(k)) for k, name in enumerate(colour.names)}
    truth = {p.name: spec.color for p, spec in photos}
    for k in range(len(colour.names)):
        assert {truth[window.result.photos[i].path.name] for i in colour.members(k)} == {colour.names[k]}

    window.tree(0).topLevelItem(0).setText(0, "my favourite")  # an edit in the tree renames the cluster
    assert colour.names[0] == "my favourite"
    moved = colour.members(1)[0]
    window.move_photo(0, moved, 0)
    assert moved in colour.members(0)

    out = tmp_path / "sorted"
    assert window.export_to(out) == 16 * 2
    for k, name in enumerate(colour.names):
        folder = out / "color of the object" / name
        on_disk = sorted(content_hash(f) for f in folder.iterdir())
        assert on_disk == sorted(window.result.photos[i].sha256 for i in colour.members(k))


def test_the_window_keeps_serving_events_while_photos_are_sorted(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 40, seed=4, size=64)
    window.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "shape of the object", 5)
    ticks = []
    timer = QTimer(interval=20, timeout=lambda: ticks.append(window.is_running()))
    timer.start()
    window.run_button.click()
    assert window.is_running() and window.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    timer.stop()
    assert sum(ticks) >= 5, f"the event loop served only {sum(ticks)} timer ticks during the run"


def test_cancel_stops_the_run_and_says_so(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 60, seed=5, size=64)
    window.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    window.run_button.click()
    window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.result is None and "cancelled" in window.status.text()
    assert window.run_button.isEnabled()


def test_mistakes_get_a_message_not_a_crash(window, tmp_path):
    window.run_button.click()
    assert "folder" in window.status.text()
    window.folder_edit.setText(str(tmp_path))
    window.run_button.click()
    assert "criterion" in window.status.text()
    add_criterion(window, "color of the object", 0)
    add_criterion(window, "color of the object", 0)
    assert "already" in window.status.text() and len(window.criteria()) == 1


def test_a_cluster_name_already_taken_is_refused_and_the_tree_shows_the_old_name(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 12, seed=6, size=64)
    window.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "background of the photo", 3)
    window.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    names = list(window.result.criterion(0).names)
    window.rename_cluster(0, 0, names[1])
    assert "already" in window.status.text() and window.result.criterion(0).names == names
    qtbot.waitUntil(lambda: window.tree(0).topLevelItem(0).text(0) == names[0])
