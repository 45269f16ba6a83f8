"""One criterion's result: its clusters on the left, the selected cluster's photos as thumbnails on the right."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListView, QListWidget, QListWidgetItem, QMenu,
                               QSplitter, QVBoxLayout, QWidget)

from esmc_desktop.editable_result import EditableResult
from esmc_desktop.gui.photo_model import PHOTO_ROLE, PhotoModel

CLUSTER_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = 120


class ClusterList(QListWidget):
    """Cluster names (editable); photos dropped on a cluster move there."""

    photos_dropped = Signal(list, int)  # photo indices, cluster

    def __init__(self, photo_grid: QListView) -> None:
        super().__init__()
        self.photo_grid = photo_grid
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)

    def dragEnterEvent(self, event) -> None:
        if event.source() is self.photo_grid:
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.source() is self.photo_grid and self.itemAt(event.position().toPoint()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        target = self.itemAt(event.position().toPoint())
        if event.source() is self.photo_grid and target is not None:
            self.drop_on(self.row(target))
            event.acceptProposedAction()

    def drop_on(self, row: int) -> None:
        """What a drop does: the photo grid's selected photos move to cluster `row`."""
        photos = sorted(index.data(PHOTO_ROLE) for index in self.photo_grid.selectionModel().selectedIndexes())
        if photos:
            self.photos_dropped.emit(photos, self.item(row).data(CLUSTER_ROLE))


class CriterionView(QWidget):
    """Shows; edits go out as signals to the window, which changes the EditableResult and refreshes."""

    rename_requested = Signal(int, str)  # cluster, new name
    move_requested = Signal(list, int)  # photo indices, cluster
    thumbnails_wanted = Signal(list)  # photo indices on screen (and a page either side)

    def __init__(self, result: EditableResult, criterion: int) -> None:
        super().__init__()
        self.result, self.index = result, criterion
        crit = result.criterion(criterion)
        self.photos = QListView()
        self.model = PhotoModel(result, criterion, QSize(THUMB + 24, THUMB + 36))
        self.photos.setModel(self.model)
        self.photos.setViewMode(QListView.ViewMode.IconMode)
        self.photos.setIconSize(QSize(THUMB, THUMB))
        self.photos.setGridSize(QSize(THUMB + 24, THUMB + 36))
        self.photos.setUniformItemSizes(True)
        self.photos.setResizeMode(QListView.ResizeMode.Adjust)
        self.photos.setMovement(QListView.Movement.Static)
        self.photos.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.photos.setDragEnabled(True)
        self.photos.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.photos.setAccessibleName(f"Photos of the selected cluster by {crit.text}")
        self.photos.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.photos.customContextMenuRequested.connect(self._photo_menu)
        self.photos.verticalScrollBar().valueChanged.connect(self._want_visible)
        self.clusters = ClusterList(self.photos)
        self.clusters.setAccessibleName(f"Clusters by {crit.text}")
        self.clusters.setToolTip("Double-click a name to rename; drop photos on a cluster to move them")
        self.clusters.currentRowChanged.connect(self._show_cluster)
        self.clusters.itemChanged.connect(self._renamed)
        self.clusters.photos_dropped.connect(self.move_requested)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Why these photos belong together")
        right = QWidget()
        box = QVBoxLayout(right)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.why)
        box.addWidget(self.photos, 1)
        split = QSplitter()
        split.addWidget(self.clusters)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 680])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.refresh()

    @property
    def crit(self):
        return self.result.criterion(self.index)

    def refresh(self) -> None:
        """Rebuild the cluster list from the result, keeping the selected cluster."""
        row = max(self.clusters.currentRow(), 0)
        self.clusters.blockSignals(True)
        self.clusters.clear()
        for k, name in enumerate(self.crit.names):
            item = QListWidgetItem(name)
            item.setData(CLUSTER_ROLE, k)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{len(self.crit.members(k))} photos")
            self.clusters.addItem(item)
        self.clusters.blockSignals(False)
        self.clusters.setCurrentRow(min(row, self.clusters.count() - 1))
        self._show_cluster(self.clusters.currentRow())

    def _show_cluster(self, row: int) -> None:
        members = self.crit.members(row) if row >= 0 else []
        self.model.show(members)
        if row < 0:
            self.why.clear()
            return
        words = self.crit.explanations[row] if row < len(self.crit.explanations) else []
        self.why.setText(f"<b>{self.crit.names[row]}</b>: {len(members)} photos"
                         + (f" · why: {', '.join(words)}" if words else ""))
        self._want_visible()

    def visible_rows(self) -> range:
        """Rows on screen, and a screenful before and after, so scrolling finds thumbnails ready."""
        count = self.model.rowCount()
        if count == 0:
            return range(0)
        grid = self.photos.gridSize()
        viewport = self.photos.viewport().size()
        per_row = max(1, viewport.width() // max(1, grid.width()))
        per_screen = per_row * (viewport.height() // max(1, grid.height()) + 1)
        first = self.photos.indexAt(self.photos.viewport().rect().topLeft()).row()
        first = max(0, first if first >= 0 else 0)
        return range(max(0, first - per_screen), min(count, first + 2 * per_screen))

    def visible_photos(self) -> list[int]:
        return [self.model.rows[r] for r in self.visible_rows()]

    def _want_visible(self, *_) -> None:
        self.thumbnails_wanted.emit(self.visible_photos())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._want_visible()

    def set_thumbnail(self, sha: str, file: str) -> None:
        self.model.set_thumbnail(sha, file)

    def shown_photos(self) -> list[int]:
        return list(self.model.rows)

    def select_photos(self, rows: list[int]) -> None:
        """Select photos of the shown cluster by row (what a click or rubber band does)."""
        selection = self.photos.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(self.model.index(row), selection.SelectionFlag.Select)

    def _renamed(self, item: QListWidgetItem) -> None:
        self.rename_requested.emit(item.data(CLUSTER_ROLE), item.text())

    def _photo_menu(self, pos) -> None:
        chosen = sorted(index.data(PHOTO_ROLE) for index in self.photos.selectionModel().selectedIndexes())
        if not chosen:
            return
        menu = QMenu(self)
        for k, name in enumerate(self.crit.names):
            if k != self.clusters.currentRow():
                menu.addAction(f"Move to {name}", lambda k=k: self.move_requested.emit(chosen, k))
        menu.exec(self.photos.viewport().mapToGlobal(pos))
