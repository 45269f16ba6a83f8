"""A criterion's clusters as drop targets: the cluster list, and "New cluster" under it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QLabel, QListWidget, QStyle, QStyledItemDelegate,
                               QStyleOptionViewItem)

from esmc_desktop.gui.photo_model import dragged_photos

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


class ClusterList(QListWidget):
    """Cluster names (editable); photos of this criterion dropped on a cluster move there."""

    photos_dropped = Signal(list, int)  # photo indices, cluster

    def __init__(self, criterion: int) -> None:
        super().__init__()
        self.criterion = criterion
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)

    def dragEnterEvent(self, event) -> None:
        accept_photos(event, self.criterion)

    def dragMoveEvent(self, event) -> None:
        accept_photos(event, self.criterion, self.itemAt(event.position().toPoint()) is not None)

    def dropEvent(self, event) -> None:
        photos = dragged_photos(event.mimeData(), self.criterion)
        target = self.itemAt(event.position().toPoint())
        if photos and target is not None:
            self.photos_dropped.emit(photos, target.data(CLUSTER_ROLE))
            event.acceptProposedAction()
        else:
            event.ignore()


def accept_photos(event, criterion: int, there: bool = True) -> None:
    """Take a drag only when it carries photos of this criterion (and the place under it can take them)."""
    if there and dragged_photos(event.mimeData(), criterion) is not None:
        event.acceptProposedAction()
    else:
        event.ignore()


class NewClusterTarget(QLabel):
    """'New cluster': photos of this criterion dropped here make a cluster of their own (learning then fills it)."""

    photos_dropped = Signal(list)  # photo indices

    def __init__(self, criterion: int) -> None:
        super().__init__("+ New cluster: drop photos here")
        self.criterion = criterion
        self.setAccessibleName("New cluster")
        self.setToolTip("Drop photos here to start a new cluster with them; double-click its name to rename it")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Sunken)
        self.setMinimumHeight(34)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event) -> None:
        accept_photos(event, self.criterion)

    def dropEvent(self, event) -> None:
        photos = dragged_photos(event.mimeData(), self.criterion)
        if photos:
            self.photos_dropped.emit(photos)
            event.acceptProposedAction()
        else:
            event.ignore()
