"""The photos of one cluster as a Qt list model: rows are made on demand, so 10,000 photos open at once."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QIcon

from esmc_desktop.editable_result import EditableResult

PHOTO_ROLE = Qt.ItemDataRole.UserRole + 3


class PhotoModel(QAbstractListModel):
    """Rows are photo indices of an EditableResult; icons arrive later, by content hash."""

    def __init__(self, result: EditableResult, criterion: int, cell: QSize) -> None:
        super().__init__()
        self.result, self.criterion, self.cell = result, criterion, cell
        self.rows: list[int] = []
        self._row_of: dict[str, list[int]] = {}
        self._icons: dict[str, QIcon] = {}

    def show(self, photos: list[int]) -> None:
        self.beginResetModel()
        self.rows = list(photos)
        self._row_of = {}
        for row, i in enumerate(self.rows):
            self._row_of.setdefault(self.result.photos[i].sha256, []).append(row)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = self.rows[index.row()]
        photo = self.result.photos[i]
        if role == Qt.ItemDataRole.DisplayRole:
            return photo.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icons.get(photo.sha256)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{photo.path}\nconfidence {self.result.criterion(self.criterion).confidences[i]:.2f}"
        if role == Qt.ItemDataRole.SizeHintRole:
            return self.cell
        if role == PHOTO_ROLE:
            return i
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def set_thumbnail(self, sha: str, file: str) -> None:
        self._icons.setdefault(sha, QIcon(file))
        for row in self._row_of.get(sha, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def has_thumbnail(self, row: int) -> bool:
        return self.result.photos[self.rows[row]].sha256 in self._icons
