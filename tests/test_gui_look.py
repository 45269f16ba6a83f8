"""The window as a photo tool (offscreen, the shipped demo model sorting for real): where to start, the clusters
at a glance, a photo large, plain words with details on demand, and counts that match the command line's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSize, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.criterion_view import OVERVIEW, PHOTOS  # noqa: E402
from esmc_desktop.gui.empty_state import EXAMPLES  # noqa: E402
from esmc_desktop.gui.photo_model import BROKEN_ROLE  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from tests.test_gui import add_criterion, own_settings, sort_generated_photos, window  # noqa: E402,F401 (fixtures)

REPO = Path(__file__).resolve().parent.parent


def test_before_any_folder_the_window_says_what_to_do_and_an_example_criterion_is_one_click(window):
    tabs = window.tabs
    assert tabs.folder_page.currentWidget() is tabs.empty
    assert [b.text() for b in tabs.empty.example_buttons] == [text for text, _ in EXAMPLES]
    tabs.empty.example_buttons[1].click()
    criterion = window.criteria()[0]
    assert criterion.text == "color of the car" and "red" in criterion.keywords
    tabs.empty.example_buttons[1].click()
    assert len(window.criteria()) == 1, "an example is added once"
    assert window.status.text().startswith("Added 'color of the car'. Now open a folder")


def test_a_sort_opens_on_its_clusters_as_cards_with_mosaic_count_and_words(window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 16, 21, "color of the object", 4)
    view, crit = window.view(0), window.result.criterion(0)
    assert view.pages.currentIndex() == OVERVIEW and view.clusters.currentRow() == -1
    assert len(view.cards.cards) == len(crit.names)
    for k, card in enumerate(view.cards.cards):
        count = len(crit.members(k))
        assert card.name.text() == crit.names[k]
        assert card.count.text() == f"{count} photo{'s' if count != 1 else ''}"
        words = crit.explanations[k]
        assert card.words.text() == ("" if words == [crit.names[k]] else ", ".join(words))
        surest = sorted(crit.members(k), key=lambda p: -crit.confidences[p])[:4]
        assert [p.path for p in card.photos] == [window.result.photos[p].path for p in surest]
    window.thumbnails.wait()
    card = view.cards.card(0)
    qtbot.waitUntil(lambda: all(p.sha256 in window.tabs.icons for p in card.photos), timeout=30_000)
    qtbot.waitUntil(lambda: card.mosaic.pixmap().toImage().pixelColor(20, 20) != card.palette().color(
        card.palette().ColorRole.AlternateBase), timeout=10_000)  # a photo drawn in the mosaic's first tile


def test_a_card_s_name_is_edited_in_place_and_a_click_opens_its_photos(window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 22, "color of the object", 3)
    view, crit = window.view(0), window.result.criterion(0)
    card = view.cards.card(1)
    card.name.setText("my favourites")
    card.name.editingFinished.emit()
    assert crit.names[1] == "my favourites" and window.result.edited
    qtbot.waitUntil(lambda: view.clusters.item(1).text() == "my favourites")
    window.show()
    qtbot.mouseClick(view.cards.card(2), Qt.MouseButton.LeftButton, pos=view.cards.card(2).mosaic.geometry().center())
    assert view.pages.currentIndex() == PHOTOS and view.shown_photos() == crit.members(2)
    view.back.click()
    assert view.pages.currentIndex() == OVERVIEW
    window.result.edited = False  # nothing to keep: close without asking


def test_the_size_slider_makes_every_grid_s_thumbnails_larger(window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 8, 23, "color of the object", 2)
    window.tabs.size_slider.setValue(200)
    assert window.tabs.folder_grid.iconSize() == QSize(200, 200)
    assert window.view(0).photos.iconSize() == QSize(200, 200)
    assert window.view(0).photos.gridSize().width() > 200


def test_space_opens_a_photo_large_with_its_cluster_confidence_and_keywords_and_arrows_go_through_the_cluster(
        window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 24, "color of the object", 2)
    view, crit = window.view(0), window.result.criterion(0)
    window.show()
    big = max(range(len(crit.names)), key=lambda k: len(crit.members(k)))
    view.open_cluster(big)
    members = view.shown_photos()
    view.photos.setCurrentIndex(view.model.index(0))
    qtbot.keyClick(view.photos, Qt.Key.Key_Space)
    viewer = view.viewer
    assert viewer is not None and viewer.isVisible() and viewer.photo() == members[0]
    first = window.result.photos[members[0]]
    assert viewer.image.pixmap().width() >= 400, "larger than any thumbnail"
    text = viewer.text.text()
    assert first.path.name in text and f"cluster <b>{crit.names[big]}</b>" in text
    assert f"confidence {crit.confidences[members[0]]:.2f}" in text and "Keywords" in text
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.photo() == members[1] and window.result.photos[members[1]].path.name in viewer.text.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.photo() == members[0], "stops at the first photo"
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible()
    rect = view.photos.visualRect(view.model.index(1))
    qtbot.mouseClick(view.photos.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.photos.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.viewer is not viewer and view.viewer.photo() == members[1]


def test_each_criterion_says_in_one_plain_line_what_it_grouped_by_and_keeps_the_model_s_story_behind_details(
        window, qtbot, tmp_path):
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, 25, "color of the object", 3)
    view, crit = window.view(0), window.result.criterion(0)
    window.show()
    assert view.summary.text() == f"Grouped by color of the object, as the model sees it: {', '.join(crit.names)}"
    assert "layer" not in view.summary.text() and "token" not in view.summary.text()
    assert view.where.isHidden() and view.warning.isHidden(), "the demo model sees colours clearly: nothing to fix"
    view.details_button.click()
    assert view.where.isVisible() and f"Read at layer {crit.layer}" in view.where.text()


def test_a_criterion_the_model_cannot_read_gets_a_warning_that_says_what_to_try(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 10, seed=26, size=64)
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    window.criteria_panel.criterion_edit.setText("color of the object")
    window.criteria_panel.keywords_edit.setText("sofa, kettle, umbrella")  # values no photo shows
    window.criteria_panel.k_spin.setValue(2)
    window.criteria_panel.add_criterion()
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    view, crit = window.view(0), window.result.criterion(0)
    assert crit.reading.localization.fallback, crit.where_read
    window.show()
    warning = view.warning.text()
    assert view.warning.isVisible() and "Keywords" in warning and "'sofa, kettle, umbrella'" in warning
    assert "layer" not in warning and "0.2" not in warning and "token" not in warning


def _hostile_photos(folder: Path) -> Path:
    """Six good photos, and files a sort skips: three that do not decode, an empty one, a text file, a duplicate."""
    import io

    from PIL import Image

    write_photo_folder(folder, 6, seed=27, size=64)
    good = sorted(folder.glob("*.png"))[0]
    buffer = io.BytesIO()
    Image.open(good).convert("RGB").resize((300, 300)).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "text.jpg").write_text("this is not a picture\n")
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("shopping list")
    (folder / "copy.png").write_bytes(good.read_bytes())
    return folder


def test_the_window_counts_photos_and_skipped_files_as_the_command_line_does_and_marks_broken_files(
        window, qtbot, tmp_path):
    folder = _hostile_photos(tmp_path / "photos")
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    cli = subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(folder), "--criterion",
                          "color of the object:2", "--out", str(tmp_path / "out"), "--json", "--quiet",
                          "--cache", str(tmp_path / "cli-cache"), "--model", str(lm), "--mmproj", str(mmproj),
                          "--gpu-layers", "0", "--threads", "1"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr
    summary = json.loads(cli.stdout)
    photos, skipped = summary["photos"], len(summary["skipped"])
    assert (photos, skipped) == (6, 6)

    window.open_folder(folder)
    expected = f"{photos} photos; {skipped} files will be skipped"
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text() == expected, timeout=60_000)
    assert window.tabs.tabText(0) == f"All photos ({photos})"
    model = window.tabs.folder_grid.model
    marked = {model.photos[model.rows[r]].path.name: model.index(r).data(BROKEN_ROLE)
              for r in range(model.rowCount()) if model.index(r).data(BROKEN_ROLE)}
    assert set(marked) == {"truncated.jpg", "text.jpg", "garbage.png", "zero.jpg"}
    assert "damaged or truncated" in marked["truncated.jpg"] and "not an image" in marked["text.jpg"]
    row = next(r for r in range(model.rowCount()) if model.photos[model.rows[r]].path.name == "truncated.jpg")
    tip = model.index(row).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith(f"Will be skipped: {marked['truncated.jpg']}")
    assert not model.index(row).data(Qt.ItemDataRole.DecorationRole).isNull(), "the broken-file sign"

    add_criterion(window, "color of the object", 2)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    assert (len(window.result.photos), len(window.result.skipped)) == (photos, skipped)
    assert window.status.text().startswith(f"Sorted {photos} photos by 1 criterion; {skipped} files skipped")
    assert window.folder_panel.folder_info.text() == f"{photos} photos; {skipped} files were skipped"


def test_a_result_stays_labelled_as_its_folder_s_and_export_says_and_writes_that_folder_s_photos(
        window, qtbot, tmp_path):
    from esmc_desktop.gui.export_dialog import ExportDialog

    a = tmp_path / "A"
    sort_generated_photos(window, qtbot, a, 8, 28, "color of the object", 2)
    assert window.result_label.text().startswith(f"Result of {a}: 8 photos by 1 criterion")
    b = tmp_path / "B"
    write_photo_folder(b, 5, seed=29, size=64)
    window.folder_panel.folder_edit.setText(str(b))
    window.folder_panel.folder_edit.editingFinished.emit()  # Enter in the folder box
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text() == "5 photos", timeout=30_000)
    label = window.result_label.text()
    assert label.startswith(f"This result is of {a}, not of {b}") and "Sort photos to sort" in label
    assert window.export_button.isEnabled() and window.export_button.text() == "&Export the result of A…"
    assert window.export_button.shortcut().toString() == "Ctrl+E"
    assert str(a) in ExportDialog(window.result, window).source.text()
    window.export_to(tmp_path / "out")
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    assert window.status.text().startswith(f"Exported 8 files of the result of {a}")
    exported = {p.name for p in (tmp_path / "out").rglob("*.png")}
    assert exported and exported <= {p.name for p in a.glob("*.png")}
    assert not exported & {p.name for p in b.glob("*.png")} - {p.name for p in a.glob("*.png")}
    window.folder_panel.folder_edit.setText(str(a))
    assert window.result_label.text().startswith(f"Result of {a}")


def test_the_folder_photos_open_large_too_and_a_broken_one_says_why(window, qtbot, tmp_path):
    folder = _hostile_photos(tmp_path / "photos")
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.folder_panel.folder_info.text().endswith("will be skipped"), timeout=60_000)
    grid = window.tabs.folder_grid
    row = next(r for r in range(grid.model.rowCount())
               if grid.model.photos[grid.model.rows[r]].path.name == "text.jpg")
    viewer = window.open_folder_photo(grid.model.rows[row])
    assert viewer.image.text() == "This file can't be shown (it does not decode)."
    assert "Will be skipped: text.jpg: not an image" in viewer.text.text()
    QApplication.processEvents()
