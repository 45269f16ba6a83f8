"""Photos as a Qt list model: rows are made on demand, so 10,000 photos open at once."""

from __future__ import annotations

import json
from typing import Protocol

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QSize, Qt, QUrl
from PySide6.QtGui import QIcon

from esmc_desktop.app.scan import Photo

PHOTO_ROLE = Qt.ItemDataRole.UserRole + 3
PLACED_ROLE = Qt.ItemDataRole.UserRole + 5
PHOTOS_MIME = "application/x-esmc-desktop-photos"


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
        self._row_of: dict[str, list[int]] = {}

    def show(self, photos: list[int]) -> None:
        self.beginResetModel()
        self.rows = list(photos)
        self._row_of = {}
        for row, i in enumerate(self.rows):
            self._row_of.setdefault(self.photos[i].sha256, []).append(row)
        self.endResetModel()

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
            return self._icons.get(photo.sha256)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.texts.tooltip(i) if self.texts else str(photo.path)
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

    def has_thumbnail(self, row: int) -> bool:
        return self.photos[self.rows[row]].sha256 in self._icons
