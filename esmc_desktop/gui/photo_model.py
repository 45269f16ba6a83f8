"""Photos as a Qt list model: rows are made on demand, so 10,000 photos open at once."""

from __future__ import annotations

import json
from typing import Protocol

from functools import cache

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QPointF, QRectF, QSize, Qt, QUrl
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from esmc_desktop.app.scan import Photo

PHOTO_ROLE = Qt.ItemDataRole.UserRole + 3
PLACED_ROLE = Qt.ItemDataRole.UserRole + 5
BROKEN_ROLE = Qt.ItemDataRole.UserRole + 7
PHOTOS_MIME = "application/x-esmc-desktop-photos"


@cache
def broken_icon() -> QIcon:
    """A torn picture with a red cross: the sign of a file the sort will skip (drawn once, on first use)."""
    pixmap = QPixmap(128, 128)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#8a8a8a"), 4))
    painter.setBrush(QColor("#e8e8e8"))
    painter.drawRoundedRect(QRectF(14, 22, 100, 84), 6, 6)
    painter.setPen(QPen(QColor("#8a8a8a"), 3))
    painter.drawPolyline([QPointF(x, y) for x, y in ((14, 70), (36, 56), (52, 72), (72, 50), (90, 66), (114, 52))])
    cross = QPen(QColor("#d0312d"), 9)
    cross.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(cross)
    painter.drawLine(QPointF(84, 78), QPointF(114, 108))
    painter.drawLine(QPointF(114, 78), QPointF(84, 108))
    painter.end()
    return QIcon(pixmap)


def dragged_photos(mime: QMimeData, criterion: int) -> list[int] | None:
    """The photo indices a drag carries when it comes from this criterion's grid; None for anything else."""
    if not mime.hasFormat(PHOTOS_MIME):
        return None
    try:
        payload = json.loads(bytes(mime.data(PHOTOS_MIME)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if payload.get("criterion") != criterion or not isinstance(payload.get("photos"), list):
        return None
    return [int(i) for i in payload["photos"]]


class PhotoTexts(Protocol):
    """What a criterion's grid says about a photo, asked when it is drawn (so it follows the result's edits)."""

    def caption(self, photo: int) -> str: ...

    def tooltip(self, photo: int) -> str: ...

    def placed(self, photo: int) -> bool: ...


class PhotoModel(QAbstractListModel):
    """Rows are indices into `photos`; icons arrive later, by content hash.

    Icons live in a dict the window shares between grids. With a criterion (and its
    texts) rows can be dragged onto that criterion's clusters; without, it is a plain view
    of a folder, captioned with file names.
    """

    def __init__(self, photos: list[Photo], cell: QSize, icons: dict[str, QIcon], criterion: int | None = None,
                 texts: PhotoTexts | None = None) -> None:
        super().__init__()
        self.photos, self.cell, self.criterion, self.texts = photos, cell, criterion, texts
        self._icons = icons  # shared by every grid of the window: a thumbnail made once shows everywhere
        self.rows: list[int] = []
        self._row_of: dict[str, list[int]] = {}  # content hash -> its rows, for the rows watched (on screen)
        self.broken: dict[str, str] = {}  # content hash -> why the sort will skip the file (it does not decode)

    def show(self, photos: list[int]) -> None:
        self.beginResetModel()
        self.rows = list(photos)
        self._row_of = {}
        self.endResetModel()

    def watch(self, rows: range) -> None:
        """The rows on (or near) the screen: a thumbnail arriving for one of them repaints it. Any other row
        reads its thumbnail when it is next drawn, so nothing per photo of a 30,000-photo cluster is kept."""
        self._row_of = {}
        for row in rows:
            self._row_of.setdefault(self.photos[self.rows[row]].sha256, []).append(row)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = self.rows[index.row()]
        photo = self.photos[i]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.texts.caption(i) if self.texts else photo.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            return broken_icon() if photo.sha256 in self.broken else self._icons.get(photo.sha256)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = self.texts.tooltip(i) if self.texts else str(photo.path)
            return f"{tip}\nWill be skipped: {self.broken[photo.sha256]}" if photo.sha256 in self.broken else tip
        if role == BROKEN_ROLE:
            return self.broken.get(photo.sha256)
        if role == PLACED_ROLE:
            return bool(self.texts and self.texts.placed(i))
        if role == Qt.ItemDataRole.SizeHintRole:
            return self.cell
        if role == PHOTO_ROLE:
            return i
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() and self.criterion is not None else base

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt's name)
        return [PHOTOS_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802 (Qt's name)
        """What a drag of photos carries: their indices and the criterion they belong to."""
        mime = QMimeData()
        photos = sorted({self.rows[i.row()] for i in indexes if i.isValid()})
        mime.setData(PHOTOS_MIME, QByteArray(json.dumps({"criterion": self.criterion, "photos": photos}).encode()))
        mime.setUrls([QUrl.fromLocalFile(str(self.photos[i].path)) for i in photos])
        return mime

    def thumbnail_ready(self, sha: str) -> None:
        """The shared icons have this photo's thumbnail now: repaint its rows."""
        for row in self._row_of.get(sha, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def mark_broken(self, sha: str, reason: str) -> None:
        """This file will be skipped, for `reason`: its tile shows the broken-file sign and says why."""
        self.broken[sha] = reason
        self.thumbnail_ready(sha)

    def has_thumbnail(self, row: int) -> bool:
        return self.photos[self.rows[row]].sha256 in self._icons
