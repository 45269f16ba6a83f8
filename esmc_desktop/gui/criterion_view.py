"""One criterion's result: its clusters on the left, the selected cluster's photos as thumbnails on the right."""

from __future__ import annotations

import html
from collections import Counter

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QMenu, QSplitter, QStyle,
                               QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout, QWidget)

from esmc_desktop.app.export import photo_keywords
from esmc_desktop.app.result import SortResult
from esmc_desktop.gui.photo_grid import PhotoGrid
from esmc_desktop.gui.photo_model import PHOTO_ROLE, dragged_photos

CLUSTER_ROLE = Qt.ItemDataRole.UserRole + 1
COUNT_ROLE = Qt.ItemDataRole.UserRole + 4


class CountDelegate(QStyledItemDelegate):
    """Draws a cluster's photo count at the right of its name; the name alone stays editable."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        super().paint(painter, option, index)
        count = index.data(COUNT_ROLE)
        if count is None:
            return
        selected = option.state & QStyle.StateFlag.State_Selected
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        painter.save()
        painter.setPen(option.palette.color(role))
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(option.rect.adjusted(0, 0, -6, 0), align, f"{count:,}")
        painter.restore()


def _token(text: str) -> str:
    """A lens token for reading: its word, or its repr when it is only whitespace (a newline, a space)."""
    return html.escape(text.strip() or repr(text))


class ClusterList(QListWidget):
    """Cluster names (editable); photos of this criterion dropped on a cluster move there."""

    photos_dropped = Signal(list, int)  # photo indices, cluster

    def __init__(self, criterion: int) -> None:
        super().__init__()
        self.criterion = criterion
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)

    def dragEnterEvent(self, event) -> None:
        if dragged_photos(event.mimeData(), self.criterion) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if dragged_photos(event.mimeData(), self.criterion) is not None \
                and self.itemAt(event.position().toPoint()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        photos = dragged_photos(event.mimeData(), self.criterion)
        target = self.itemAt(event.position().toPoint())
        if photos and target is not None:
            self.photos_dropped.emit(photos, target.data(CLUSTER_ROLE))
            event.acceptProposedAction()
        else:
            event.ignore()


class CriterionView(QWidget):
    """Shows; edits go out as signals to the window, which changes the SortResult and refreshes."""

    rename_requested = Signal(int, str)  # cluster, new name
    move_requested = Signal(list, int)  # photo indices, cluster
    thumbnails_wanted = Signal(list)  # Photos on screen (and a screenful either side)

    def __init__(self, result: SortResult, criterion: int, icons: dict[str, QIcon]) -> None:
        super().__init__()
        self.result, self.index = result, criterion
        crit = result.criterion(criterion)
        self.photos = PhotoGrid(result.photos, icons, criterion, crit.confidences)
        self.model = self.photos.model
        self.photos.setAccessibleName(f"Photos of the selected cluster by {crit.text}")
        self.photos.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.photos.customContextMenuRequested.connect(self._photo_menu)
        self.photos.thumbnails_wanted.connect(self.thumbnails_wanted)
        self.clusters = ClusterList(criterion)
        self.clusters.setItemDelegate(CountDelegate(self.clusters))
        self.clusters.setAccessibleName(f"Clusters by {crit.text}")
        self.clusters.setToolTip("Double-click a name to rename; drop photos on a cluster to move them")
        self.clusters.currentRowChanged.connect(self._show_cluster)
        self.clusters.itemChanged.connect(self._renamed)
        self.clusters.photos_dropped.connect(self.move_requested)
        self.photos.selectionModel().currentChanged.connect(self._show_photo)
        self.where = QLabel(self.where_text())
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where.setAccessibleName(f"Where {crit.text} is read in the model, and why there")
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Why these photos belong together")
        self.photo_why = QLabel("Select a photo to see what the model read in it.")
        self.photo_why.setWordWrap(True)
        self.photo_why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.photo_why.setAccessibleName("Why the selected photo is in this cluster")
        self.photo_keywords = QLabel()
        self.photo_keywords.setWordWrap(True)
        self.photo_keywords.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.photo_keywords.setAccessibleName("Keywords a tag export writes for the selected photo")
        right = QWidget()
        box = QVBoxLayout(right)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.why)
        box.addWidget(self.photos, 1)
        box.addWidget(self.photo_why)
        box.addWidget(self.photo_keywords)
        split = QSplitter()
        split.addWidget(self.clusters)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 680])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.where)
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
        counts = Counter(self.crit.labels)
        for k, name in enumerate(self.crit.names):
            item = QListWidgetItem(name)
            item.setData(CLUSTER_ROLE, k)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setData(COUNT_ROLE, counts[k])
            item.setToolTip(f"{counts[k]:,} photos")
            self.clusters.addItem(item)
        self.clusters.blockSignals(False)
        self.clusters.setCurrentRow(min(row, self.clusters.count() - 1))
        self._show_cluster(self.clusters.currentRow())

    def _show_cluster(self, row: int) -> None:
        members = self.crit.members(row) if row >= 0 else []
        self.photos.show_photos(members)
        if row < 0:
            self.why.clear()
            return
        words = self.crit.explanations[row] if row < len(self.crit.explanations) else []
        self.why.setText(f"<b>{html.escape(self.crit.names[row])}</b>: {len(members):,} photos"
                         + (f" · why: {html.escape(', '.join(words))}" if words else "")
                         + (f"<br>Note: {html.escape(self.crit.note)}" if self.crit.note else ""))

    def _show_photo(self, index) -> None:
        if not index.isValid():
            self.photo_why.setText("Select a photo to see what the model read in it.")
            self.photo_keywords.clear()
            return
        photo = index.data(PHOTO_ROLE)
        self.photo_why.setText(self.photo_text(photo))
        self.photo_keywords.setText(self.keywords_text(photo))

    def keywords_text(self, photo: int) -> str:
        """What an export in mode tags writes for the photo, with its current cluster names, and where."""
        words = photo_keywords(self.result, photo)
        where = ", ".join(html.escape(f.name) for f in words.sidecars)
        return (f"Keywords (Export, mode tags): <b>{html.escape(', '.join(words.subject))}</b> · "
                f"{html.escape(', '.join(words.hierarchical))} → {where}")

    def photo_text(self, photo: int) -> str:
        """The selected photo's lens reading: what the model leaned to say at the criterion's target."""
        reading = self.result.lens_reading(self.index, photo)
        crit = self.crit
        cluster = crit.labels[photo]
        shown = [(t, p) for t, p in reading.tokens if p >= 0.005] or reading.tokens[:1]
        tokens = " · ".join(f"{_token(t)} {p:.2f}" for t, p in shown)
        words = crit.explanations[cluster] if cluster < len(crit.explanations) else []
        return (f"<b>{html.escape(self.result.photos[photo].path.name)}</b> in "
                f"<b>{html.escape(crit.names[cluster])}</b> (confidence {crit.confidences[photo]:.2f}). "
                f"Read at layer {reading.layer}, token “{_token(reading.token)}” of "
                f"“{html.escape(reading.prompt)}”: {tokens or 'nothing above zero'}"
                + (f". The cluster's words: {html.escape(', '.join(words))}" if words else ""))

    def where_text(self) -> str:
        """Where the criterion is read (layer and prompt token) and why there: the localization's own words."""
        crit = self.crit
        return (f"Read at layer {crit.layer}, token “{_token(crit.computed.target_token)}” of "
                f"“{html.escape(crit.prompt)}”. Why there: {html.escape(crit.where_read)}")

    def thumbnail_ready(self, sha: str) -> None:
        self.photos.thumbnail_ready(sha)

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
        menu = self.move_menu()
        if menu is not None:
            menu.exec(self.photos.viewport().mapToGlobal(pos))

    def move_menu(self) -> QMenu | None:
        """The selected photos' context menu: one 'Move to' entry per other cluster (None when none is selected)."""
        chosen = self.photos.selected_photos()
        if not chosen:
            return None
        menu = QMenu(self)
        for k, name in enumerate(self.crit.names):
            if k != self.clusters.currentRow():
                menu.addAction(f"Move to {name}", lambda k=k: self.move_requested.emit(chosen, k))
        return menu
