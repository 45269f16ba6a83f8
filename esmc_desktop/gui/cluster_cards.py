"""A criterion's clusters at a glance: one card each, with a mosaic of its surest photos, its name, count and words.

As photo libraries show albums: the name is edited in place on the card, a click on the card
opens the cluster's photos, photos dragged onto a card move into that cluster, and a right-click
opens the cluster's menu (remove; with named values: make it a value, merge it into one). With
named values each card says whether it is a value or a cluster the sort found, and a found
cluster's card dragged onto a value's card merges it into that value.
"""

from __future__ import annotations

import json

import numpy as np

from PySide6.QtCore import QByteArray, QMimeData, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QDrag, QIcon, QMouseEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QApplication, QFrame, QGridLayout, QLabel, QLineEdit, QScrollArea, QSizePolicy,
                               QVBoxLayout, QWidget)

from esmc_desktop.app.result import CriterionClusters
from esmc_desktop.app.scan import Photo
from esmc_desktop.gui.cluster_list import accept_photos
from esmc_desktop.gui.photo_model import dragged_photos

MOSAIC = 4  # photos in a card's mosaic (2 x 2)
CARD = 196  # a card's width, in pixels
CLUSTER_MIME = "application/x-esmc-desktop-cluster"


def surest_members(labels: np.ndarray, confidences: np.ndarray, cluster: int, n: int = MOSAIC) -> list[int]:
    """The cluster's `n` photos the model is surest of, most confident first; ties, and photos without a
    confidence (NaN, counted as 0), in photo order. A partition, not a sort: a 30,000-photo cluster is
    one pass in numpy, not 30,000 Python calls."""
    members = np.flatnonzero(labels == cluster)
    key = -np.nan_to_num(confidences[members], nan=0.0)
    if len(members) > n:
        kth = np.partition(key, n - 1)[n - 1]
        kept = np.flatnonzero(key <= kth)  # the n surest and every photo tied with the last of them
        members, key = members[kept], key[kept]
    return members[np.argsort(key, kind="stable")][:n].tolist()


class ClusterCard(QFrame):
    """One cluster: mosaic, editable name, count and keywords. `opened` on a click, `renamed` when edited."""

    opened = Signal(int)
    renamed = Signal(int, str)
    photos_dropped = Signal(list, int)  # photo indices, this cluster
    menu_requested = Signal(int, QPoint)  # this cluster, where (global)
    cluster_dropped = Signal(int, int)  # the found cluster dragged here, this value

    def __init__(self, criterion: int, cluster: int) -> None:
        super().__init__()
        self.criterion, self.cluster = criterion, cluster
        self.photos: list[Photo] = []
        self.shas: set[str] = set()  # the mosaic's photos, by content hash: a thumbnail is checked at a glance
        self.kind = ""  # with named values: "value" or "found"
        self._pressed: QPoint | None = None
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.menu_requested.emit(self.cluster,
                                                                                     self.mapToGlobal(pos)))
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(CARD)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptDrops(True)
        self.mosaic = QLabel()
        self.mosaic.setFixedSize(CARD - 16, CARD - 16)
        self.mosaic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLineEdit()
        self.name.setFrame(False)
        self.name.setToolTip("The cluster's name (its folder when exported): click to edit, Enter to keep")
        self.name.editingFinished.connect(self._edited)
        font = self.name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name.setFont(font)
        self.count = QLabel()
        self.words = QLabel(wordWrap=True)
        self.words.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 8, 8, 8)
        box.setSpacing(2)
        for widget in (self.mosaic, self.name, self.count, self.words):
            box.addWidget(widget)

    def show_cluster(self, name: str, count: int, words: list[str], photos: list[Photo], kind: str = "") -> None:
        """`kind`: with named values, 'value' or 'found' (a cluster the sort discovered, or `other`)."""
        self.kind = kind
        self.name.setText(name)
        self.name.setAccessibleName(f"Name of cluster {name}")
        self.setAccessibleName(f"Cluster {name}" + (f" ({kind})" if kind else ""))
        self.count.setText(f"{count:,} photo{'s' if count != 1 else ''}" + (f" · {kind}" if kind else ""))
        shown = words if words != [name] else []  # a cluster named after its one word says it once
        self.words.setText(", ".join(shown))
        self.words.setVisible(bool(shown))
        self.setToolTip(f"Open {name}: click; right-click for more" + ("" if count else " (empty: Remove)")
                        + ("; drag it onto a value to merge it into that value" if kind == "found" else ""))
        self.photos = photos
        self.shas = {photo.sha256 for photo in photos}

    def draw_mosaic(self, icons: dict[str, QIcon]) -> None:
        """The surest photos in a 2 x 2 grid, each cropped square; a blank square while a thumbnail is on its way."""
        side = self.mosaic.width()
        half = side // 2
        pixmap = QPixmap(QSize(side, side) * self.devicePixelRatioF())
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        pixmap.fill(self.palette().color(QPalette.ColorRole.AlternateBase))
        painter = QPainter(pixmap)
        tiles = [QRect(0, 0, half - 1, half - 1), QRect(half + 1, 0, half - 1, half - 1),
                 QRect(0, half + 1, half - 1, half - 1), QRect(half + 1, half + 1, half - 1, half - 1)]
        if len(self.photos) == 1:
            tiles = [QRect(0, 0, side, side)]
        for photo, tile in zip(self.photos, tiles):
            icon = icons.get(photo.sha256)
            if icon is None:
                continue
            image = icon.pixmap(QSize(256, 256)).toImage()
            crop = min(image.width(), image.height())
            square = image.copy((image.width() - crop) // 2, (image.height() - crop) // 2, crop, crop)
            painter.drawImage(tile, square)
        painter.end()
        self.mosaic.setPixmap(pixmap)

    def _edited(self) -> None:
        self.name.clearFocus()
        self.renamed.emit(self.cluster, self.name.text())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        on_name = self.name.geometry().contains(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and not on_name:
            self.opened.emit(self.cluster)
        super().mouseReleaseEvent(event)

    def mime(self) -> QMimeData:
        """What dragging this card carries: its criterion and cluster."""
        mime = QMimeData()
        mime.setData(CLUSTER_MIME, QByteArray(json.dumps({"criterion": self.criterion,
                                                          "cluster": self.cluster}).encode()))
        return mime

    def dragged_cluster(self, mime: QMimeData) -> int | None:
        """The found cluster a drag carries when this card is a value of the same criterion, else None."""
        if self.kind != "value" or not mime.hasFormat(CLUSTER_MIME):
            return None
        try:
            payload = json.loads(bytes(mime.data(CLUSTER_MIME)).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if payload.get("criterion") != self.criterion or payload.get("cluster") == self.cluster:
            return None
        return int(payload["cluster"])

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        self._pressed = event.position().toPoint() if event.button() == Qt.MouseButton.LeftButton else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        moved = self._pressed is not None and \
            (event.position().toPoint() - self._pressed).manhattanLength() >= QApplication.startDragDistance()
        if self.kind == "found" and moved and not self.name.hasFocus():
            self._pressed = None
            drag = QDrag(self)
            drag.setMimeData(self.mime())
            if self.mosaic.pixmap() is not None:
                drag.setPixmap(self.mosaic.pixmap().scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio))
            drag.exec(Qt.DropAction.MoveAction)
            return
        super().mouseMoveEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.dragged_cluster(event.mimeData()) is not None:
            event.acceptProposedAction()
            return
        accept_photos(event, self.criterion)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        cluster = self.dragged_cluster(event.mimeData())
        if cluster is not None:
            self.cluster_dropped.emit(cluster, self.cluster)
            event.acceptProposedAction()
            return
        photos = dragged_photos(event.mimeData(), self.criterion)
        if photos:
            self.photos_dropped.emit(photos, self.cluster)
            event.acceptProposedAction()
        else:
            event.ignore()


class ClusterCards(QScrollArea):
    """All of a criterion's clusters as cards, as many to a row as fit; rebuilt by `show_clusters`."""

    opened = Signal(int)  # cluster
    renamed = Signal(int, str)
    photos_dropped = Signal(list, int)
    menu_requested = Signal(int, QPoint)  # cluster, where (global)
    cluster_dropped = Signal(int, int)  # a found cluster, the value it was dropped on
    thumbnails_wanted = Signal(list)  # the photos of the mosaics

    def __init__(self, criterion: int, photos: list[Photo], icons: dict[str, QIcon]) -> None:
        super().__init__()
        self.criterion, self.all_photos, self.icons = criterion, photos, icons
        self.cards: list[ClusterCard] = []
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.inner = QWidget()
        self.inner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.grid = QGridLayout(self.inner)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.grid.setSpacing(12)
        self.setWidget(self.inner)
        self._columns = 0

    def show_clusters(self, crit: CriterionClusters) -> None:
        """Make one card per cluster, in cluster order (a cluster just made is last)."""
        labels, confidences = np.asarray(crit.labels, dtype=np.int64), np.asarray(crit.confidences, dtype=float)
        counts = np.bincount(labels, minlength=len(crit.names)).tolist()
        while len(self.cards) > len(crit.names):
            self.cards.pop().deleteLater()
        while len(self.cards) < len(crit.names):
            card = ClusterCard(self.criterion, len(self.cards))
            card.opened.connect(self.opened)
            card.renamed.connect(self.renamed)
            card.photos_dropped.connect(self.photos_dropped)
            card.menu_requested.connect(self.menu_requested)
            card.cluster_dropped.connect(self.cluster_dropped)
            self.cards.append(card)
        for k, card in enumerate(self.cards):
            words = crit.explanations[k] if k < len(crit.explanations) else []
            photos = [self.all_photos[p] for p in surest_members(labels, confidences, k)]
            kind = ("value" if crit.is_value(k) else "found") if crit.values else ""
            card.show_cluster(crit.names[k], counts[k], words, photos, kind)
            card.draw_mosaic(self.icons)
        self._columns = 0
        self._lay_out()
        self.thumbnails_wanted.emit(self.mosaic_photos())

    def mosaic_photos(self) -> list[Photo]:
        return [photo for card in self.cards for photo in card.photos]

    def thumbnail_ready(self, sha: str) -> None:
        for card in self.cards:
            if sha in card.shas:
                card.draw_mosaic(self.icons)

    def card(self, cluster: int) -> ClusterCard:
        return self.cards[cluster]

    def _lay_out(self) -> None:
        columns = max(1, (self.viewport().width() - 12) // (CARD + 12))
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self.grid.removeWidget(card)
        for k, card in enumerate(self.cards):
            self.grid.addWidget(card, k // columns, k % columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._lay_out()
