"""The photos and the results: an All photos tab, then one tab per criterion (clusters beside their photos)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStackedWidget, QTabWidget, QWidget

from esmc_desktop.app.result import SortResult
from esmc_desktop.app.scan import Photo, Skipped
from esmc_desktop.gui.criterion_view import CriterionView
from esmc_desktop.gui.empty_state import EmptyState
from esmc_desktop.gui.photo_grid import LARGEST, SMALLEST, THUMB, PhotoGrid
from esmc_desktop.gui.thumbnail_loader import ThumbnailLoader
from esmc_desktop.app.view import PHOTO_SUFFIXES

DUPLICATE = "same content as"  # a skipped duplicate is not broken: its twin is sorted


class ResultsTabs(QTabWidget):
    """Shows a folder's photos and a SortResult; edits of the result go out as signals with the criterion."""

    rename_requested = Signal(int, int, str)  # criterion, cluster, new name
    move_requested = Signal(int, list, int)  # criterion, photo indices, cluster
    new_cluster_requested = Signal(int, list)  # criterion, photo indices
    remove_requested = Signal(int, int)  # criterion, empty cluster
    make_value_requested = Signal(int, int)  # criterion, cluster
    merge_requested = Signal(int, int, int)  # criterion, cluster, value
    apply_requested = Signal(int)  # criterion
    undo_requested = Signal(int)  # criterion
    resort_all_requested = Signal(int)  # criterion: apply corrections, re-sorting every photo they teach about
    reread_requested = Signal(int, int, int)  # criterion, block, prompt position

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Photos and results")
        self.setDocumentMode(True)
        self.thumbnails = thumbnails
        self.icons: dict[str, QIcon] = {}  # thumbnails by content hash, shared by every grid
        self.photo_count = 0
        self.folder_grid = PhotoGrid([], self.icons)
        self.folder_grid.setAccessibleName("All photos of the folder")
        self.folder_grid.thumbnails_wanted.connect(self._want_thumbnails)
        self.empty = EmptyState()
        self.folder_page = QStackedWidget()
        self.folder_page.addWidget(self.empty)
        self.folder_page.addWidget(self.folder_grid)
        self.addTab(self.folder_page, "All photos")
        self.views: list[CriterionView] = []
        self.size_slider = QSlider(Qt.Orientation.Horizontal, minimum=SMALLEST, maximum=LARGEST, value=THUMB)
        self.size_slider.setSingleStep(8)
        self.size_slider.setPageStep(32)
        self.size_slider.setFixedWidth(140)
        self.size_slider.setAccessibleName("Thumbnail size")
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.set_thumbnail_size)
        corner = QWidget()
        row = QHBoxLayout(corner)
        row.setContentsMargins(0, 0, 6, 0)
        row.addWidget(QLabel("Size"))
        row.addWidget(self.size_slider)
        self.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        thumbnails.ready.connect(self._thumbnail_ready)

    def show_folder(self, photos: list[Photo], skipped: list[Skipped] = ()) -> None:
        """The folder's photos, then the files of photo types the sort will skip, each with the broken-file sign."""
        unusable = [(Photo(s.path, f"skipped:{s.path}", 0), s.reason) for s in skipped
                    if s.path.suffix.lower() in PHOTO_SUFFIXES and not s.reason.startswith(DUPLICATE)]
        self.photo_count = len(photos)
        self.folder_grid.model.broken = {photo.sha256: reason for photo, reason in unusable}
        self.folder_grid.show_all(list(photos) + [photo for photo, _ in unusable])
        self.folder_page.setCurrentWidget(self.folder_grid if photos or unusable else self.empty)
        self.setTabText(0, f"All photos ({len(photos):,})")

    def mark_broken(self, broken: dict[Path, str]) -> None:
        """Photos that do not decode (the survey): their tiles show the broken-file sign and the reason."""
        model = self.folder_grid.model
        for photo in model.photos:
            if photo.path in broken and photo.sha256 not in model.broken:
                model.mark_broken(photo.sha256, broken[photo.path])
                self.photo_count -= 1
        self.setTabText(0, f"All photos ({self.photo_count:,})")

    def folder_photos(self) -> int:
        """How many photos of the folder will be sorted (the files that will be skipped not counted)."""
        return self.photo_count

    def set_thumbnail_size(self, side: int) -> None:
        """Every grid's thumbnails `side` pixels large (the size slider)."""
        if self.size_slider.value() != side:
            self.size_slider.setValue(side)
        self.folder_grid.set_thumbnail_size(side)
        for view in self.views:
            view.set_thumbnail_size(side)

    def show_result(self, result: SortResult) -> None:
        """One tab per criterion, replacing the last result's; the first criterion's tab is shown."""
        for view in self.views:
            self.removeTab(self.indexOf(view))
            view.deleteLater()
        self.views = []
        for ci, crit in enumerate(result.criteria):
            view = CriterionView(result, ci, self.icons)
            view.rename_requested.connect(lambda k, name, c=ci: self.rename_requested.emit(c, k, name))
            view.move_requested.connect(lambda photos, k, c=ci: self.move_requested.emit(c, photos, k))
            view.new_cluster_requested.connect(lambda photos, c=ci: self.new_cluster_requested.emit(c, photos))
            view.remove_requested.connect(lambda k, c=ci: self.remove_requested.emit(c, k))
            view.make_value_requested.connect(lambda k, c=ci: self.make_value_requested.emit(c, k))
            view.merge_requested.connect(lambda k, v, c=ci: self.merge_requested.emit(c, k, v))
            view.apply_requested.connect(lambda c=ci: self.apply_requested.emit(c))
            view.undo_requested.connect(lambda c=ci: self.undo_requested.emit(c))
            view.resort_all_requested.connect(lambda c=ci: self.resort_all_requested.emit(c))
            view.reread_requested.connect(lambda layer, pos, c=ci: self.reread_requested.emit(c, layer, pos))
            view.thumbnails_wanted.connect(self._want_thumbnails)
            view.set_thumbnail_size(self.size_slider.value())
            view.want_thumbnails()
            self.views.append(view)
            self.addTab(view, crit.text)
        if self.views:
            self.setCurrentWidget(self.views[0])

    def view(self, criterion: int) -> CriterionView:
        return self.views[criterion]

    def current_criterion(self) -> int | None:
        """The criterion whose tab is shown; None on the All photos tab."""
        widget = self.currentWidget()
        return self.views.index(widget) if widget in self.views else None

    def refresh(self, criterion: int) -> None:
        """Redraw a criterion's clusters after an edit (later: not while its list is inside its own signal)."""
        QTimer.singleShot(0, self.views[criterion].refresh)

    def _want_thumbnails(self, photos: list) -> None:
        for photo in photos:
            if not photo.sha256.startswith("skipped:"):
                self.thumbnails.request(photo.path, photo.sha256)

    def _thumbnail_ready(self, sha: str, file: str) -> None:
        self.icons.setdefault(sha, QIcon(file))
        self.folder_grid.thumbnail_ready(sha)
        for view in self.views:
            view.thumbnail_ready(sha)
