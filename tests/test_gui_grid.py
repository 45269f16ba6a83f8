"""The photo grid and the cluster cards at the size of a big cluster (offscreen): thumbnails are asked for the
photos on screen wherever the grid is scrolled or however it is sized, the newest asked are made first, and
each card's mosaic shows the cluster's surest photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtCore import QRect, Qt  # noqa: E402
from PySide6.QtGui import QIcon, QPixmap  # noqa: E402
from PySide6.QtWidgets import QStackedWidget, QWidget  # noqa: E402

from esmc_desktop.app.scan import Photo  # noqa: E402
from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.cluster_cards import surest_members  # noqa: E402
from esmc_desktop.gui.photo_grid import PhotoGrid  # noqa: E402
from esmc_desktop.gui.thumbnail_loader import MAX_PENDING, ThumbnailLoader  # noqa: E402
from esmc_desktop.photos.scan import content_hash  # noqa: E402
from esmc_desktop.photos.thumbnails import ThumbnailCache  # noqa: E402
from tests.test_gui import own_settings, window  # noqa: E402,F401 (fixtures)

PHOTOS = 3000  # more than one batch of Qt's layout


def photos(n: int) -> list[Photo]:
    return [Photo(Path(f"/card/{i // 100:02d}/IMG_{i % 100:04d}.jpg"), f"{i:064x}", 1) for i in range(n)]


def on_screen(grid: PhotoGrid) -> set[int]:
    """The rows whose cells Qt draws in the grid's viewport now (every row looked at: the truth, slowly)."""
    seen = grid.viewport().rect()
    return {row for row in range(grid.model.rowCount())
            if grid.visualRect(grid.model.index(row)).intersects(seen)}


@pytest.fixture
def icons() -> dict:
    return {}


def watched_grid(icons: dict) -> PhotoGrid:
    """A grid of PHOTOS photos that records, in `wanted`, the photos each of its thumbnail requests asked for."""
    grid = PhotoGrid(photos(PHOTOS), icons)  # the window shares one thumbnails dict between its grids
    grid.wanted = []
    grid.thumbnails_wanted.connect(lambda wanted: grid.wanted.append({p.sha256 for p in wanted}))
    return grid


@pytest.fixture
def grid(qtbot, icons):
    """3,000 photos, every other one shown, in a grid on screen, laid out to the last cell."""
    grid = watched_grid(icons)
    qtbot.addWidget(grid)
    grid.resize(700, 500)
    grid.show()
    qtbot.waitExposed(grid)
    grid.show_photos(list(range(0, PHOTOS, 2)))
    last = grid.model.index(grid.model.rowCount() - 1)
    qtbot.waitUntil(lambda: grid.visualRect(last).isValid() and grid.verticalScrollBar().maximum() > 0)
    return grid


def assert_asked_for_what_is_on_screen(grid: PhotoGrid) -> None:
    shown = on_screen(grid)
    assert shown, "something is on screen"
    rows = grid.visible_rows()
    assert shown <= set(rows)
    assert len(rows) <= 4 * len(shown), "a screenful either side, not the whole cluster"
    asked = grid.wanted[-1]
    assert {grid.model.photos[grid.model.rows[r]].sha256 for r in shown} <= asked


def test_thumbnails_are_asked_for_the_photos_on_screen_wherever_the_grid_is_scrolled(grid, qtbot):
    bar = grid.verticalScrollBar()
    assert_asked_for_what_is_on_screen(grid)
    for value in (bar.pageStep() // 2, bar.maximum() // 3, bar.maximum() // 2 + 7, bar.maximum() - 1, bar.maximum()):
        bar.setValue(value)
        assert_asked_for_what_is_on_screen(grid)
    grid.scrollToTop()
    assert_asked_for_what_is_on_screen(grid)
    assert 0 in grid.visible_rows()


def test_after_a_resize_or_a_new_thumbnail_size_the_photos_on_screen_are_asked_for(grid, qtbot):
    last = grid.model.index(grid.model.rowCount() - 1)
    for width, side in ((420, 120), (1100, 120), (1100, 64), (560, 256)):
        grid.resize(width, 600)
        grid.set_thumbnail_size(side)
        qtbot.waitUntil(lambda: grid.visualRect(last).isValid() and grid.visualRect(last).width() >= side)
        grid.verticalScrollBar().setValue(grid.verticalScrollBar().maximum() // 2)
        assert_asked_for_what_is_on_screen(grid)


def test_a_grid_filled_on_a_hidden_page_asks_for_the_photos_on_screen_once_shown_and_laid_out(qtbot, icons):
    pages = QStackedWidget()  # as the window's All photos tab: its empty state first, then the folder's photos
    qtbot.addWidget(pages)
    pages.addWidget(QWidget())
    grid = watched_grid(icons)
    pages.addWidget(grid)
    pages.resize(1000, 700)
    pages.show()
    qtbot.waitExposed(pages)
    grid.show_photos(list(range(PHOTOS)))
    pages.setCurrentWidget(grid)
    last = grid.model.index(PHOTOS - 1)
    qtbot.waitUntil(lambda: grid.visualRect(last).isValid())
    assert_asked_for_what_is_on_screen(grid)


def test_a_thumbnail_that_arrives_repaints_its_cell_on_screen_and_one_made_off_screen_is_there_when_scrolled_to(
        grid, icons, qtbot):
    row = min(on_screen(grid))
    photo = grid.model.photos[grid.model.rows[row]]
    icon = QIcon(QPixmap(8, 8))
    icons[photo.sha256] = icon  # as the window does when a thumbnail is ready
    with qtbot.waitSignal(grid.model.dataChanged) as changed:
        grid.thumbnail_ready(photo.sha256)
    assert changed.args[0].row() == row
    far = grid.model.rowCount() - 1
    icons[grid.model.photos[grid.model.rows[far]].sha256] = icon
    grid.scrollToBottom()
    assert far in on_screen(grid) and grid.model.has_thumbnail(far)
    assert grid.model.index(far).data(Qt.ItemDataRole.DecorationRole) is not None


def test_an_empty_grid_asks_for_nothing(qtbot):
    grid = PhotoGrid(photos(5), {})
    qtbot.addWidget(grid)
    grid.show_photos([])
    assert grid.visible_rows() == range(0) and grid.visualRect(grid.model.index(0)) == QRect()


def test_a_card_s_mosaic_shows_its_surest_photos_most_confident_first_ties_in_photo_order():
    labels = np.array([0, 1, 0, 0, 0, 0, 1, 0, 0])
    confidences = np.array([0.5, 0.99, 0.9, np.nan, 0.9, 0.7, 0.2, 0.5, 0.0])
    assert surest_members(labels, confidences, 0) == [2, 4, 5, 0]
    assert surest_members(labels, confidences, 0, n=6) == [2, 4, 5, 0, 7, 3], "no confidence counts as 0"
    assert surest_members(labels, confidences, 0, n=20) == [2, 4, 5, 0, 7, 3, 8]
    assert surest_members(labels, confidences, 1) == [1, 6]
    assert surest_members(labels, confidences, 2) == []


def test_the_thumbnails_asked_for_last_are_made_and_one_dropped_while_scrolling_is_made_when_asked_again(
        qtbot, tmp_path):
    files = []
    for i in range(MAX_PENDING + 100):
        path = tmp_path / "photos" / f"IMG_{i:04d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (40, 30), (i % 256, (i * 7) % 256, 90)).save(path)
        files.append((path, content_hash(path)))
    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbnails", 32))
    made: set[str] = set()
    loader.ready.connect(lambda sha, file: made.add(sha))
    for path, sha in files:  # a fast scroll: far more asked than the workers keep up with
        loader.request(path, sha)
    loader.wait()
    newest = {sha for _, sha in files[-MAX_PENDING:]}
    qtbot.waitUntil(lambda: newest <= made)
    for path, sha in files:  # scrolled back: what was dropped is asked again, and made
        loader.request(path, sha)
    loader.wait()
    qtbot.waitUntil(lambda: made == {sha for _, sha in files})


def test_a_folder_opened_in_the_window_gets_the_thumbnails_of_every_photo_on_screen(window, qtbot, tmp_path):
    write_photo_folder(tmp_path / "photos", 300, seed=31, size=32)
    window.resize(1200, 850)
    window.show()
    window.open_folder(tmp_path / "photos")
    grid = window.tabs.folder_grid
    qtbot.waitUntil(lambda: grid.model.rowCount() == 300, timeout=30_000)
    qtbot.waitUntil(lambda: grid.visualRect(grid.model.index(299)).isValid())
    shown = on_screen(grid)
    assert len(shown) > 20
    qtbot.waitUntil(lambda: all(grid.model.has_thumbnail(r) for r in shown), timeout=30_000)
