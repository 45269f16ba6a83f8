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


def sort_generated_photos(window, qtbot, folder, n: int, seed: int, criterion: str, k: int):
    """Generate n photos into folder, sort them by one criterion in the window, wait for the result."""
    photos = write_photo_folder(folder, n, seed=seed, size=64)
    window.folder_edit.setText(str(folder))
    add_criterion(window, criterion, k)
    window.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    return photos


def test_pick_folder_add_two_criteria_run_rename_move_export_and_disk_matches_the_window(window, qtbot, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", 16, seed=3, size=64)
    window.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    add_criterion(window, "background of the photo", 4)
    assert [c.text for c in window.criteria()] == ["color of the object", "background of the photo"]

    window.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    assert window.tabs.count() == 2 and window.export_button.isEnabled()
    colour, view = window.result.criterion(0), window.view(0)
    shown = {view.clusters.item(k).text(): len(colour.members(k)) for k in range(view.clusters.count())}
    assert shown == {name: len(colour.members(k)) for k, name in enumerate(colour.names)}
    truth = {p.name: spec.color for p, spec in photos}
    for k in range(len(colour.names)):
        assert {truth[window.result.photos[i].path.name] for i in colour.members(k)} == {colour.names[k]}
    view.clusters.setCurrentRow(1)
    assert view.shown_photos() == colour.members(1)
    qtbot.waitUntil(lambda: all(view.model.has_thumbnail(r) for r in range(view.model.rowCount())))

    view.clusters.item(0).setText("my favourite")  # an edit in the list renames the cluster
    assert colour.names[0] == "my favourite"
    moved = colour.members(1)[0]
    view.select_photos([0])
    view.clusters.drop_on(0)  # what dropping the selected photo on the first cluster does
    assert moved in colour.members(0) and moved not in colour.members(1)
    qtbot.waitUntil(lambda: view.clusters.item(0).text() == "my favourite")

    out = tmp_path / "sorted"
    assert window.export_to(out) == 16 * 2
    for k, name in enumerate(colour.names):
        folder = out / "color of the object" / name
        assert folder.is_dir(), f"{folder} was not written"
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
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 6, "background of the photo", 3)
    names = list(window.result.criterion(0).names)
    window.view(0).clusters.item(0).setText(names[1])
    assert "already" in window.status.text() and window.result.criterion(0).names == names
    qtbot.waitUntil(lambda: window.view(0).clusters.item(0).text() == names[0])


def test_a_move_export_can_be_undone_from_the_window_and_every_original_comes_back(window, qtbot, tmp_path):
    photos = sort_generated_photos(window, qtbot, tmp_path / "photos", 10, 8, "background of the photo", 4)
    before = {p.name: content_hash(p) for p, _ in photos}
    assert window.export_to(tmp_path / "sorted", mode="move") == 10
    assert not any((tmp_path / "photos").iterdir()) and window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert {f.name: content_hash(f) for f in (tmp_path / "photos").iterdir()} == before
    assert "back" in window.status.text() and not window.undo_action.isEnabled()


def test_the_export_dialog_previews_one_folder_per_criterion_and_cluster(window, qtbot, tmp_path):
    from esmc_desktop.gui.export_dialog import ExportDialog

    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 9, "color of the object", 6)
    dialog = ExportDialog(window.result, window, destination=str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    top = dialog.tree.topLevelItem(0)
    crit = window.result.criterion(0)
    assert top.text(0) == "color of the object"
    assert {top.child(i).text(0): int(top.child(i).text(1)) for i in range(top.childCount())} == \
        {name: len(crit.members(k)) for k, name in enumerate(crit.names) if crit.members(k)}
    dialog.mode.setCurrentText("move")
    assert "Undo" in dialog.help.text()
    assert not (tmp_path / "out").exists(), "a preview writes nothing"


def test_the_pinned_pyside_keeps_reference_counts_when_signals_are_emitted_many_times():
    # PySide6 6.12.0's Signal.emit returned True without a reference: a few thousand emits
    # (one progress report per photo) aborted Python. The gui extra pins a release without it.
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        ping = Signal(str)

    emitter = Emitter()
    before = sys.getrefcount(True)
    for _ in range(5000):
        emitter.ping.emit("x")
    assert abs(sys.getrefcount(True) - before) < 100


def test_suggest_fills_the_keywords_with_the_model_s_own_words_and_add_uses_them(window, qtbot):
    window.criterion_edit.setText("color of the object")
    window.suggest_button.click()
    qtbot.waitUntil(lambda: window.suggest_button.isEnabled() and bool(window.keywords_edit.text()), timeout=60_000)
    words = [w.strip() for w in window.keywords_edit.text().split(",")]
    assert {"red", "green", "blue"} <= set(words)
    window.add_criterion()
    assert window.criteria()[0].keywords == tuple(words)
    assert "keywords: red, green, blue" in window.criteria_list.item(0).text()


def test_the_model_dialog_refuses_a_file_that_is_not_a_model_and_remembers_a_good_pair(window, qtbot, tmp_path):
    from PySide6.QtCore import QCoreApplication, QSettings

    from esmc_desktop.gui.model_dialog import ModelDialog

    QCoreApplication.setOrganizationName("esmc-desktop-test")
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("shopping list")
    dialog = ModelDialog(lm, mmproj, window)
    qtbot.addWidget(dialog)
    assert dialog.check() and dialog.verdict.text().startswith("✓")
    dialog.lm.setText(str(not_a_model))
    assert not dialog.check() and "notes.gguf" in dialog.verdict.text()
    dialog.lm.setText(str(mmproj))  # the two files swapped
    assert not dialog.check()
    window.set_model(lm, mmproj)
    assert QSettings().value("model/lm") == str(lm)


def test_new_photos_are_assigned_into_an_export_under_the_names_the_user_gave(window, qtbot, tmp_path):
    new = write_photo_folder(tmp_path / "new", 6, seed=13, size=64)
    sort_generated_photos(window, qtbot, tmp_path / "photos", 16, 12, "color of the object", 6)
    crit = window.result.criterion(0)
    window.view(0).clusters.item(0).setText(f"my {crit.names[0]}")
    out = tmp_path / "sorted"
    window.export_to(out)
    window.assign(tmp_path / "new", out)
    qtbot.waitUntil(lambda: window.status.text().startswith("Assigned"), timeout=120_000)
    folder_of = {content_hash(f): f.parent.name for f in (out / "color of the object").rglob("*.png")}
    shown = {name.removeprefix("my "): name for name in crit.names}
    for photo, spec in new:
        assert folder_of[content_hash(photo)] == shown[spec.color]


def test_a_preview_that_cannot_be_made_is_said_in_the_status_line(window, qtbot, tmp_path):
    window.thumbnails.request(tmp_path / "gone.jpg", "f" * 64)
    qtbot.waitUntil(lambda: window.status.text().startswith("No preview") and "gone.jpg" in window.status.text())
