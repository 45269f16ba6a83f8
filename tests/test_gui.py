"""The desktop window driven end to end (offscreen) with the shipped demo model."""

from __future__ import annotations

import html

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.cluster_list import COUNT_ROLE  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.photos.scan import content_hash  # noqa: E402
from esmc_desktop.engine.settings import ComputeRequest  # noqa: E402


@pytest.fixture(autouse=True)
def own_settings(tmp_path):
    """Each test starts with nothing remembered, and remembers into its own folder."""
    QCoreApplication.setOrganizationName("esmc-desktop-test")
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()


@pytest.fixture
def window(qtbot, tmp_path):
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    # one thread: see tests/test_pipeline.py, model_args
    w = MainWindow(lm, mmproj, cache_dir=tmp_path / "cache", compute=ComputeRequest(threads=1))
    qtbot.addWidget(w)
    return w


def add_criterion(window, text: str, k: int) -> None:
    window.criteria_panel.criterion_edit.setText(text)
    window.criteria_panel.k_spin.setValue(k)
    window.criteria_panel.add_criterion()


def export_and_wait(window, qtbot, out, mode: str = "copy") -> int:
    """Export as the Export dialog's OK does, wait for the worker, and return the number of files placed."""
    window.export_to(out, mode)
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.status.text().startswith("Exported"), window.status.text()
    return window.exported_files


def drag_photos_onto_cluster(view, rows: list[int], cluster_row: int, target_view=None) -> bool:
    """Deliver the drag-enter, drag-move and drop events a mouse drag of these grid rows produces; True if taken."""
    target = (target_view or view).clusters
    mime = view.model.mimeData([view.model.index(r) for r in rows])  # what the grid's startDrag puts in the QDrag
    point = target.visualItemRect(target.item(cluster_row)).center()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    for event in (QDragEnterEvent(point, *args), QDragMoveEvent(point, *args), QDropEvent(QPointF(point), *args)):
        QApplication.sendEvent(target.viewport(), event)
        if not event.isAccepted():
            return False
    return True


def verdict(dialog, qtbot) -> bool:
    """Check the model dialog's fields in the background, as a pause in typing does, and wait for the verdict."""
    with qtbot.waitSignal(dialog.checked, timeout=60_000) as answer:
        dialog.check()
    return answer.args[0]


def sort_generated_photos(window, qtbot, folder, n: int, seed: int, criterion: str, k: int):
    """Generate n photos into folder, sort them by one criterion in the window, wait for the result."""
    photos = write_photo_folder(folder, n, seed=seed, size=64)
    window.folder_panel.folder_edit.setText(str(folder))
    add_criterion(window, criterion, k)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    return photos


def test_pick_folder_add_two_criteria_run_rename_move_export_and_disk_matches_the_window(window, qtbot, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", 16, seed=3, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    add_criterion(window, "background of the photo", 4)
    assert [c.text for c in window.criteria()] == ["color of the object", "background of the photo"]

    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    assert len(window.tabs.views) == 2 and window.tabs.count() == 3  # all photos, then one tab per criterion
    assert window.tabs.currentWidget() is window.view(0) and window.export_button.isEnabled()
    colour, view = window.result.criterion(0), window.view(0)
    shown = {view.clusters.item(k).text(): view.clusters.item(k).data(COUNT_ROLE) for k in range(view.clusters.count())}
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
    assert drag_photos_onto_cluster(view, [0], 0)
    assert moved in colour.members(0) and moved not in colour.members(1)
    qtbot.waitUntil(lambda: view.clusters.item(0).text() == "my favourite")

    out = tmp_path / "sorted"
    assert export_and_wait(window, qtbot, out) == 16 * 2
    assert window.export_done.isVisible() and window.menus.open_action.isEnabled()
    for k, name in enumerate(colour.names):
        folder = out / "color of the object" / name
        assert folder.is_dir(), f"{folder} was not written"
        on_disk = sorted(content_hash(f) for f in folder.iterdir())
        assert on_disk == sorted(window.result.photos[i].sha256 for i in colour.members(k))


def test_the_window_keeps_serving_events_while_photos_are_sorted(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 40, seed=4, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "shape of the object", 5)
    ticks = []
    timer = QTimer(interval=20, timeout=lambda: ticks.append(window.is_running()))
    timer.start()
    window.run_panel.run_button.click()
    assert window.is_running() and window.run_panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    timer.stop()
    assert sum(ticks) >= 5, f"the event loop served only {sum(ticks)} timer ticks during the run"


def test_cancel_stops_the_run_and_says_so(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 60, seed=5, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    window.run_panel.run_button.click()
    window.run_panel.cancel_button.click()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.result is None and "cancelled" in window.status.text()
    assert window.run_panel.run_button.isEnabled()


def test_mistakes_get_a_message_not_a_crash(window, tmp_path):
    window.run_panel.run_button.click()
    assert "folder" in window.status.text()
    window.folder_panel.folder_edit.setText(str(tmp_path))
    window.run_panel.run_button.click()
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
    assert export_and_wait(window, qtbot, tmp_path / "sorted", mode="move") == 10
    assert not any((tmp_path / "photos").iterdir()) and window.menus.undo_action.isEnabled()
    window.menus.undo_action.trigger()
    assert {f.name: content_hash(f) for f in (tmp_path / "photos").iterdir()} == before
    assert "back" in window.status.text() and not window.menus.undo_action.isEnabled()


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
    window.criteria_panel.criterion_edit.setText("color of the object")
    window.criteria_panel.suggest_button.click()
    panel = window.criteria_panel
    qtbot.waitUntil(lambda: panel.suggest_button.isEnabled() and bool(panel.keywords_edit.text()), timeout=60_000)
    words = [w.strip() for w in window.criteria_panel.keywords_edit.text().split(",")]
    assert {"red", "green", "blue"} <= set(words)
    window.criteria_panel.add_criterion()
    assert window.criteria()[0].keywords == tuple(words)
    assert f"keywords: {', '.join(words)}" in window.criteria_panel.criteria_list.item(0).text()


def test_the_model_dialog_refuses_a_file_that_is_not_a_model_and_remembers_a_good_pair(window, qtbot, tmp_path):
    from esmc_desktop.gui.model_dialog import ModelDialog

    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("shopping list")
    dialog = ModelDialog(lm, mmproj, window)
    qtbot.addWidget(dialog)
    assert verdict(dialog, qtbot) and dialog.verdict.text().startswith("✓")
    dialog.lm.setText(str(not_a_model))
    assert not verdict(dialog, qtbot) and "notes.gguf" in dialog.verdict.text()
    dialog.lm.setText(str(mmproj))  # the two files swapped
    assert not verdict(dialog, qtbot)
    window.set_model(lm, mmproj)
    assert QSettings().value("model/lm") == str(lm)


def test_new_photos_are_assigned_into_an_export_under_the_names_the_user_gave(window, qtbot, tmp_path):
    new = write_photo_folder(tmp_path / "new", 6, seed=13, size=64)
    sort_generated_photos(window, qtbot, tmp_path / "photos", 16, 12, "color of the object", 6)
    crit = window.result.criterion(0)
    window.view(0).clusters.item(0).setText(f"my {crit.names[0]}")
    out = tmp_path / "sorted"
    export_and_wait(window, qtbot, out)
    window.assign(tmp_path / "new", out)
    qtbot.waitUntil(lambda: window.status.text().startswith("Assigned"), timeout=120_000)
    folder_of = {content_hash(f): f.parent.name for f in (out / "color of the object").rglob("*.png")}
    shown = {name.removeprefix("my "): name for name in crit.names}
    for photo, spec in new:
        assert folder_of[content_hash(photo)] == shown[spec.color]


def test_a_preview_that_cannot_be_made_is_said_in_the_status_line(window, qtbot, tmp_path):
    window.thumbnails.request(tmp_path / "gone.jpg", "f" * 64)
    qtbot.waitUntil(lambda: window.status.text().startswith("No preview") and "gone.jpg" in window.status.text())


def test_selecting_a_photo_shows_what_the_model_read_in_it_at_the_criterion_s_target(window, qtbot, tmp_path):
    photos = sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 14, "color of the object", 6)
    view, crit = window.view(0), window.result.criterion(0)
    view.open_cluster(0)
    view.photos.setCurrentIndex(view.model.index(0))
    photo = view.shown_photos()[0]
    reading = window.result.lens_reading(0, photo)
    truth = {p.name: spec.color for p, spec in photos}[window.result.photos[photo].path.name]
    assert reading.tokens[0][0].strip() == truth, "the demo model reads the photo's colour at the target"
    assert reading.layer == window.result.criteria[0].layer
    assert reading.prompt == "The color of the object is" and reading.token
    text = view.photo_why.text()
    assert window.result.photos[photo].path.name in text and crit.names[crit.labels[photo]] in text
    assert f"layer {reading.layer}" in text and f"{truth} {reading.tokens[0][1]:.2f}" in text
    where = view.where.text()  # where the criterion is read, and why there: behind Details
    assert view.where.isHidden()
    view.details_button.click()
    assert not view.where.isHidden()
    assert f"Read at layer {reading.layer}, token" in where
    assert html.escape(crit.where_read) in where


def test_photos_dragged_from_another_criterion_s_grid_are_not_taken(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 10, seed=15, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 6)
    add_criterion(window, "background of the photo", 4)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    labels = list(window.result.criterion(0).labels)
    assert not drag_photos_onto_cluster(window.view(1), [0], 0, target_view=window.view(0))
    assert window.result.criterion(0).labels == labels


def test_choosing_a_folder_counts_its_photos_lists_skipped_files_with_reasons_and_remembers_it(window, qtbot,
                                                                                               tmp_path):
    folder = tmp_path / "holiday"
    write_photo_folder(folder, 5, seed=16, size=64)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "empty.jpg").write_bytes(b"")
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text() == "5 photos; 2 files will be skipped",
                    timeout=30_000)
    panel = window.folder_panel
    assert not panel.skipped_button.isHidden()
    grid = window.tabs.folder_grid
    assert window.tabs.tabText(0) == "All photos (5)"
    assert grid.model.rowCount() == 6, "the five photos, and empty.jpg with the broken-file sign"
    qtbot.waitUntil(lambda: all(grid.model.has_thumbnail(r) for r in range(5)), timeout=30_000)
    assert window.status.text().startswith("Add a criterion")
    add_criterion(window, "color of the object", 0)
    assert window.status.text().startswith("Ready to sort 5 photos by 1 criterion")
    reasons = window.folder_panel.skipped_text()
    assert "notes.txt: not a photo type" in reasons and "empty.jpg: empty file" in reasons
    window.folder_panel.show_skipped()
    other = tmp_path / "other"
    other.mkdir()
    window.open_folder(other)
    qtbot.waitUntil(lambda: "nothing to sort" in window.folder_panel.folder_info.text(), timeout=30_000)
    window.menus.recent_menu.aboutToShow.emit()
    assert [a.text() for a in window.menus.recent_menu.actions()] == [str(other), str(folder)]
    window.menus.recent_menu.actions()[1].trigger()
    assert window.folder_panel.folder_edit.text() == str(folder)


def test_a_criterion_can_be_edited_in_place(window):
    add_criterion(window, "color of the object", 6)
    add_criterion(window, "background of the photo", 4)
    window.criteria_panel.criteria_list.setCurrentRow(0)
    window.criteria_panel.criteria_list.itemDoubleClicked.emit(window.criteria_panel.criteria_list.item(0))
    panel = window.criteria_panel
    assert panel.criterion_edit.text() == "color of the object" and panel.k_spin.value() == 6
    window.criteria_panel.k_spin.setValue(0)
    window.criteria_panel.keywords_edit.setText("red, blue")
    window.criteria_panel.add_criterion()
    assert window.criteria()[0].k is None and window.criteria()[0].keywords == ("red", "blue")
    assert [c.text for c in window.criteria()] == ["color of the object", "background of the photo"]
    window.criteria_panel.criteria_list.setCurrentRow(0)
    window.criteria_panel.edit_selected()
    window.criteria_panel.criterion_edit.setText("background of the photo")
    window.criteria_panel.add_criterion()
    assert "already" in window.status.text()


def test_gpu_layers_and_threads_are_checked_in_the_model_dialog_and_remembered(window, qtbot):
    import llama_cpp

    from esmc_desktop.gui.model_dialog import ModelDialog
    from esmc_desktop.gui.preferences import Preferences
    from esmc_desktop.mllm.gpu import GpuLayers

    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    dialog = ModelDialog(lm, mmproj, window, gpu_layers=GpuLayers(), threads=None)
    qtbot.addWidget(dialog)
    assert verdict(dialog, qtbot) and dialog.gpu_layers.text() == "auto" and dialog.threads.text() == "all cores"
    dialog.gpu_layers.setValue(8)
    dialog.threads.setValue(2)
    if not llama_cpp.llama_supports_gpu_offload():
        assert not verdict(dialog, qtbot) and "without GPU support" in dialog.verdict.text()
        dialog.gpu_layers.setValue(0)
    assert verdict(dialog, qtbot) and dialog.choice().threads == 2
    choice = dialog.choice()
    window.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads)
    assert window.compute.threads == 2 and Preferences().threads() == 2
    assert Preferences().gpu_layers() == choice.gpu_layers
    assert dialog.template.currentText() == "llava-v1"
    dialog.template.setCurrentText("llava-hf")
    choice = dialog.choice()
    window.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads, choice.template)
    assert window.settings.template == "llava-hf" == Preferences().template()
    window.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads, "llava-v1")


def test_the_compute_choice_made_in_the_model_panel_is_what_the_next_sort_runs_with_and_a_new_window_starts_with(
        window, qtbot, tmp_path):
    import llama_cpp

    from esmc_desktop.gui.preferences import Preferences
    from esmc_desktop.mllm.gpu import GpuLayers

    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    write_photo_folder(tmp_path / "photos", 8, seed=5, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "color of the object", 2)

    window.set_model(lm, mmproj, GpuLayers(2), 1)  # what the model dialog's OK does
    assert "GPU layers 2 · 1 CPU threads" in window.model_panel.label.text()
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=120_000)
    if not llama_cpp.llama_supports_gpu_offload():  # the sort refuses the GPU setting it was given, by its value
        assert "--gpu-layers 2 asks for a GPU" in window.status.text() and window.result is None
    window.set_model(lm, mmproj, GpuLayers(0), 1)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None and not window.is_running(), timeout=120_000)
    assert window.status.text().startswith("Sorted 8 photos")

    # a new window, as `esmc-desktop gui` opens one: what was chosen, unless the command line says otherwise
    again = MainWindow(lm, mmproj, compute=Preferences().compute(ComputeRequest()))
    qtbot.addWidget(again)
    assert again.compute == ComputeRequest(GpuLayers(0), threads=1)
    assert "GPU layers 0 · 1 CPU threads" in again.model_panel.label.text()
    told = MainWindow(lm, mmproj, compute=Preferences().compute(ComputeRequest(threads=3), GpuLayers(2)))
    qtbot.addWidget(told)
    assert told.compute == ComputeRequest(GpuLayers(2), threads=3)
    assert (Preferences().gpu_layers(), Preferences().threads()) == (GpuLayers(0), 1), "only for that session"


def test_the_theme_can_be_dark_light_or_the_system_s_and_is_remembered(window, qtbot):
    from esmc_desktop.gui.preferences import Preferences

    def base_lightness(widget) -> int:
        return widget.palette().color(widget.palette().ColorRole.Base).lightness()

    assert not window.theme.is_dark(), "the offscreen platform's own palette is light"
    try:
        window.set_theme("dark")
        assert window.theme.is_dark()
        qtbot.waitUntil(lambda: base_lightness(window.criteria_panel.criteria_list) < 60)
        assert Preferences().theme() == "dark" and window.menus.theme_actions["dark"].isChecked()
        window.set_theme("light")
        assert not window.theme.is_dark()
    finally:
        window.set_theme("system")
    assert not window.theme.is_dark() and Preferences().theme() == "system"
    qtbot.waitUntil(lambda: base_lightness(window.criteria_panel.criteria_list) > 200)


def test_a_bug_in_a_background_task_ends_the_run_with_a_message_instead_of_a_hang(window, qtbot):
    def broken(feedback):
        raise KeyError("no such thing")

    window.run_long(broken, window.show_result, "Starting…")
    qtbot.waitUntil(lambda: not window.is_running(), timeout=10_000)
    assert window.run_panel.run_button.isEnabled()
    assert "KeyError" in window.status.text() and "log" in window.status.text()


def test_an_export_can_be_cancelled_and_says_what_it_left(window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 30, 17, "color of the object", 6)
    window.export_to(tmp_path / "sorted", "copy")
    window.cancel()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.status.text().startswith("export cancelled") and "no original was removed" in window.status.text()
    written = [f for f in (tmp_path / "sorted").rglob("*.png")]
    assert len(written) < 30 and all(p.path.exists() for p in window.result.photos)


def test_thumbnails_made_once_show_in_every_grid_and_after_a_second_sort(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 8, seed=18, size=64)
    window.open_folder(tmp_path / "photos")
    grid = window.tabs.folder_grid
    qtbot.waitUntil(lambda: grid.model.rowCount() == 8 and all(grid.model.has_thumbnail(r) for r in range(8)),
                    timeout=30_000)
    add_criterion(window, "color of the object", 0)
    for _ in range(2):  # the second sort builds new views over the same photos
        window.result = None
        window.run_panel.run_button.click()
        qtbot.waitUntil(lambda: window.result is not None and not window.is_running(), timeout=120_000)
        window.view(0).open_cluster(0)
        model = window.view(0).model
        assert model.rowCount() and all(model.has_thumbnail(r) for r in range(model.rowCount()))


def test_a_fast_run_reports_progress_a_few_times_a_second_and_always_its_last_photo():
    from esmc_desktop.app.sort import Progress
    from esmc_desktop.gui.jobs import Job

    def work(feedback):
        for done in range(1, 5001):
            feedback.progress(Progress("reading photos", done, 5000))
        feedback.progress(Progress("clustering", 1, 2))

    job = Job(work)
    seen = []
    job.progress.connect(lambda p: seen.append((p.stage, p.done)))
    job.run()  # here, on this thread: the reports are what a worker thread would send
    assert seen[0] == ("reading photos", 1) and ("reading photos", 5000) in seen
    assert len(seen) < 60, f"{len(seen)} reports for 5,000 photos read in a moment"
    assert seen[-1] == ("clustering", 1)


def test_the_context_menu_moves_the_selected_photos_to_the_cluster_it_names(window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 19, "background of the photo", 4)
    view, crit = window.view(0), window.result.criterion(0)
    view.clusters.setCurrentRow(0)
    assert view.move_menu() is None, "no menu without a selection"
    moving = crit.members(0)[:2]
    view.select_photos([0, 1])
    menu = view.move_menu()
    assert [a.text() for a in menu.actions()] == [f"Move to {n}" for n in crit.names[1:]] + ["Move to a new cluster"]
    menu.actions()[-2].trigger()
    assert all(crit.labels[p] == len(crit.names) - 1 and crit.confidences[p] == 1.0 for p in moving)
    assert view.shown_photos() == crit.members(0)
    alone = view.shown_photos()[0]
    view.select_photos([0])
    view.move_menu().actions()[-1].trigger()
    assert crit.names[-1] == "new cluster" and crit.members(len(crit.names) - 1) == [alone]


def test_a_cancelled_run_resumes_from_the_photos_it_had_read(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 40, seed=20, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    add_criterion(window, "shape of the object", 5)
    window.run_panel.run_button.click()
    progress = window.run_panel.progress
    qtbot.waitUntil(lambda: window.status.text().startswith("Reading photos") and progress.value() >= 10,
                    timeout=120_000)
    window.cancel()
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.result is None and "cancelled" in window.status.text()
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    encoded = window.result.images_encoded
    assert len(window.result.photos) == 40 and encoded <= 40 - 10, f"{encoded} photos read again"


def test_corrections_not_exported_are_not_thrown_away_without_asking(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    sort_generated_photos(window, qtbot, tmp_path / "photos", 10, 21, "background of the photo", 3)
    window.show()
    window.view(0).clusters.item(0).setText("garden")
    asked = []
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *args: asked.append(args[1]) or answer)
    window.run_panel.run_button.click()
    assert asked == ["Sort again?"] and not window.is_running()
    assert not window.close() and window.isVisible() and asked[-1] == "Quit?"
    export_and_wait(window, qtbot, tmp_path / "sorted")
    asked.clear()
    assert window.close() and asked == [], "after an export nothing is lost, so nothing is asked"


def test_a_result_replaced_by_the_next_sort_is_freed(window, qtbot, tmp_path):
    import gc
    import weakref

    from PySide6.QtCore import QEvent

    sort_generated_photos(window, qtbot, tmp_path / "photos", 8, 5, "color of the object", 2)
    first = weakref.ref(window.result)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not first() and not window.is_running(), timeout=120_000)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the views of the first result
    gc.collect()
    assert first() is None, "a replaced result stays in memory until the window closes"


def test_a_background_job_ends_without_the_gui_thread_so_closing_the_window_cannot_deadlock(window, tmp_path):
    write_photo_folder(tmp_path / "photos", 3, seed=22, size=64)
    window.open_folder(tmp_path / "photos")
    assert window.jobs.side_jobs_running() == 1
    # QThread.wait processes no events, as inside closeEvent: the scan's thread must end by itself
    assert window.jobs.wait_side_jobs(30_000), "the scan's thread waited for the GUI thread to end it"
    assert window.close()


def test_the_model_is_checked_off_the_gui_thread_and_ok_waits_for_the_verdict(window, qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    from esmc_desktop.gui.model_dialog import ModelDialog

    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    dialog = ModelDialog(lm, mmproj, window)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(dialog.checked, timeout=60_000):
        dialog.mmproj.setText(str(tmp_path / "gone.gguf"))  # each keystroke: no check on the GUI thread
        assert dialog.verdict.text() != "" and not ok.isEnabled()
    assert "gone.gguf" in dialog.verdict.text() and not ok.isEnabled()
    assert verdict(dialog, qtbot) is False
    dialog.mmproj.setText(str(mmproj))
    qtbot.waitUntil(lambda: dialog.verdict.text().startswith("✓") and ok.isEnabled(), timeout=60_000)


def test_the_window_lays_out_a_side_panel_beside_results_that_take_most_of_it(window, qtbot, tmp_path):
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    side = window.findChild(QWidget, "side panel")
    assert window.tabs.width() > 2 * side.width(), "the photos get most of the window"
    assert window.tabs.height() > 0.8 * window.centralWidget().height()
    for panel in (window.folder_panel, window.criteria_panel, window.model_panel, window.run_panel):
        assert side.isAncestorOf(panel)


def test_a_selected_photo_shows_the_keywords_a_tag_export_writes_and_edit_undo_takes_them_back(window, qtbot,
                                                                                              tmp_path):
    from esmc_desktop.gui.export_dialog import ExportDialog
    from esmc_desktop.photos.xmp import HIERARCHICAL, read_keywords

    photos = sort_generated_photos(window, qtbot, tmp_path / "photos", 10, 5, "color of the object", 6)
    before = {p.name: content_hash(p) for p, _ in photos}
    view, crit = window.view(0), window.result.criterion(0)
    view.open_cluster(0)
    view.photos.setCurrentIndex(view.model.index(0))
    photo = view.shown_photos()[0]
    path, name = window.result.photos[photo].path, crit.names[crit.labels[photo]]
    text = view.photo_keywords.text()
    assert name in text and f"ESMC|color of the object|{name}" in text and f"{path.name}.xmp" in text

    dialog = ExportDialog(window.result, window, destination=str(tmp_path / "out"))
    qtbot.addWidget(dialog)
    dialog.mode.setCurrentText("tags")
    assert dialog.tree.topLevelItem(0).text(0) == "ESMC|color of the object" and "sidecar" in dialog.help.text()

    assert export_and_wait(window, qtbot, tmp_path / "out", mode="tags") == 10
    sidecar = path.with_name(f"{path.name}.xmp")
    assert read_keywords(sidecar.read_bytes())[HIERARCHICAL] == [f"ESMC|color of the object|{name}"]
    assert window.menus.undo_action.isEnabled()
    window.menus.undo_action.trigger()
    assert {f.name: content_hash(f) for f in (tmp_path / "photos").iterdir()} == before, "photos as they were"


def test_what_the_user_leaves_out_is_neither_counted_nor_sorted(window, qtbot, tmp_path):
    folder = tmp_path / "holiday"
    write_photo_folder(folder, 6, seed=16, size=64)
    write_photo_folder(folder / "Private", 3, seed=17, size=64)
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text().startswith("9 photos"), timeout=30_000)
    window.folder_panel.exclude_edit.setText("Private, *.gif")
    window.folder_panel.exclude_edit.editingFinished.emit()
    assert window.folder_panel.exclude() == ("Private", "*.gif")
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text().startswith("6 photos"), timeout=30_000)
    add_criterion(window, "color of the object", 0)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    assert len(window.result.photos) == 6
    assert not any("Private" in p.path.parts for p in window.result.photos)
