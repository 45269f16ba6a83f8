"""The photos and the results: an All photos tab, then one tab per criterion (clusters beside their photos)."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QTabWidget, QWidget

from esmc_desktop.app.result import SortResult
from esmc_desktop.app.scan import Photo
from esmc_desktop.gui.criterion_view import CriterionView
from esmc_desktop.gui.photo_grid import PhotoGrid
from esmc_desktop.gui.thumbnail_loader import ThumbnailLoader


class ResultsTabs(QTabWidget):
    """Shows a folder's photos and a SortResult; edits of the result go out as signals with the criterion."""

    rename_requested = Signal(int, int, str)  # criterion, cluster, new name
    move_requested = Signal(int, list, int)  # criterion, photo indices, cluster
    new_cluster_requested = Signal(int, list)  # criterion, photo indices
    remove_requested = Signal(int, int)  # criterion, empty cluster
    apply_requested = Signal(int)  # criterion
    undo_requested = Signal(int)  # criterion

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Photos and results")
        self.setDocumentMode(True)
        self.thumbnails = thumbnails
        self.icons: dict[str, QIcon] = {}  # thumbnails by content hash, shared by every grid
        self.folder_grid = PhotoGrid([], self.icons)
        self.folder_grid.setAccessibleName("All photos of the folder")
        self.folder_grid.thumbnails_wanted.connect(self._want_thumbnails)
        self.addTab(self.folder_grid, "All photos")
        self.views: list[CriterionView] = []
        thumbnails.ready.connect(self._thumbnail_ready)

    def show_folder(self, photos: list[Photo]) -> None:
        self.folder_grid.show_all(photos)
        self.setTabText(0, f"All photos ({len(photos):,})")

    def folder_photos(self) -> int:
        return self.folder_grid.model.rowCount()

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
            view.apply_requested.connect(lambda c=ci: self.apply_requested.emit(c))
            view.undo_requested.connect(lambda c=ci: self.undo_requested.emit(c))
            view.thumbnails_wanted.connect(self._want_thumbnails)
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
            self.thumbnails.request(photo.path, photo.sha256)

    def _thumbnail_ready(self, sha: str, file: str) -> None:
        self.icons.setdefault(sha, QIcon(file))
        self.folder_grid.thumbnail_ready(sha)
        for view in self.views:
            view.thumbnail_ready(sha)
