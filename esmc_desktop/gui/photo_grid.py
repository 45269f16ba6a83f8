"""A grid of photo thumbnails that asks only for the thumbnails on (or near) the screen."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyledItemDelegate, QStyleOptionViewItem

from esmc_desktop.app.scan import Photo
from esmc_desktop.gui.photo_model import PHOTO_ROLE, PLACED_ROLE, PhotoModel, PhotoTexts

THUMB = 120  # the default thumbnail side, in pixels; the View slider goes from SMALLEST to LARGEST
SMALLEST, LARGEST = 64, 256
BADGE = 16  # the "placed by you" dot, in pixels
LAYOUT_BATCH = 250  # cells Qt lays out per turn of the event loop (a few ms of its time)
MAX_PER_LINE = 1000  # more cells than fit on a line of any screen


def cell_size(side: int) -> QSize:
    """A grid cell for thumbnails of `side` pixels: the picture and a line of caption under it."""
    return QSize(side + 24, side + 36)


class PlacedBadge(QStyledItemDelegate):
    """Marks a photo the user placed by hand with a dot in its thumbnail's corner (learning never moves it)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        super().paint(painter, option, index)
        if not index.data(PLACED_ROLE):
            return
        cell, side = option.rect, option.decorationSize.width()
        dot = QRect(cell.center().x() + side // 2 - BADGE, cell.top() + 4, BADGE, BADGE)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(option.palette.color(QPalette.ColorRole.Base), 2))
        painter.setBrush(option.palette.color(QPalette.ColorRole.Highlight))
        painter.drawEllipse(dot)
        painter.restore()


class PhotoGrid(QListView):
    """Icon-mode list over a PhotoModel; `thumbnails_wanted` names the photos worth a thumbnail now."""

    thumbnails_wanted = Signal(list)  # Photos on screen (and a screenful either side)
    open_requested = Signal(int)  # a photo to see large (Space, Enter or a double-click)

    def __init__(self, photos: list[Photo], icons: dict[str, QIcon], criterion: int | None = None,
                 texts: PhotoTexts | None = None) -> None:
        super().__init__()
        cell = cell_size(THUMB)
        self.model = PhotoModel(photos, cell, icons, criterion, texts)
        self.setModel(self.model)
        if texts is not None:
            self.setItemDelegate(PlacedBadge(self))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(cell)
        self.doubleClicked.connect(lambda index: self.open_requested.emit(index.data(PHOTO_ROLE)))
        self.setUniformItemSizes(True)
        # Laid out a batch of cells per turn of the event loop: a 30,000-photo cluster opens without a freeze.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        if criterion is not None:
            self.setDragEnabled(True)
            self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.verticalScrollBar().valueChanged.connect(self.want_visible)

    def set_thumbnail_size(self, side: int) -> None:
        """Show thumbnails `side` pixels large (the View slider); more or fewer then fit on the screen."""
        cell = cell_size(side)
        self.model.cell = cell
        self.setIconSize(QSize(side, side))
        self.setGridSize(cell)
        self.want_visible()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        current = self.currentIndex()
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter) and current.isValid():
            self.open_requested.emit(current.data(PHOTO_ROLE))
            return event.accept()
        super().keyPressEvent(event)

    def show_photos(self, photos: list[int]) -> None:
        """Show these indices into the grid's photos, in this order."""
        self.model.show(photos)
        self.want_visible()

    def show_all(self, photos: list[Photo]) -> None:
        """Show a new list of photos, all of them (a folder just scanned)."""
        self.model.photos = photos
        self.show_photos(list(range(len(photos))))

    def visible_rows(self) -> range:
        """Rows on screen, and a screenful before and after, so scrolling finds thumbnails ready.

        Worked out from the grid's first line of cells (where Qt laid them out), the line pitch and the
        scroll offset: Qt's `indexAt` walks the items, which froze the window opening a 30,000-photo cluster.
        """
        count = self.model.rowCount()
        if count == 0:
            return range(0)
        viewport = self.viewport().size()
        grid = self.gridSize()
        per_row, pitch, top = self._line_layout(count)
        if pitch <= 0:  # not laid out yet: the first screenful from the cell size
            per_row = max(1, viewport.width() // max(1, grid.width()))
            pitch, top = max(1, grid.height()), 0
        lines = viewport.height() // pitch + 2  # a partly shown line at the top and at the bottom
        first = max(0, (self.verticalOffset() - top) // pitch) * per_row
        per_screen = lines * per_row
        return range(max(0, first - per_screen), min(count, first + 2 * per_screen))

    def _line_layout(self, count: int) -> tuple[int, int, int]:
        """(cells per line, pixels from one line to the next, top of the first line) as Qt laid out the first
        cells; a pitch of 0 when they are not laid out."""
        first = self.rectForIndex(self.model.index(0))
        if not first.isValid():
            return 1, 0, 0
        per_row = 1
        while per_row < min(count, MAX_PER_LINE) and \
                self.rectForIndex(self.model.index(per_row)).top() == first.top():
            per_row += 1
        if per_row == count:
            return per_row, first.height() + self.spacing(), first.top()
        below = self.rectForIndex(self.model.index(per_row))
        pitch = below.top() - first.top()
        return (per_row, pitch, first.top()) if below.isValid() and pitch > 0 else (1, 0, 0)

    def visible_photos(self) -> list[int]:
        return [self.model.rows[r] for r in self.visible_rows()]

    def want_visible(self, *_) -> None:
        rows = self.visible_rows()
        self.model.watch(rows)
        self.thumbnails_wanted.emit([self.model.photos[self.model.rows[r]] for r in rows])

    def updateGeometries(self) -> None:  # noqa: N802 (Qt's name)
        """Qt calls this when a layout starts and when its last batch is laid out: the rows on screen are known
        only then (a grid filled while hidden, or before it had its size, asks again here)."""
        super().updateGeometries()
        self.want_visible()

    def thumbnail_ready(self, sha: str) -> None:
        self.model.thumbnail_ready(sha)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.want_visible()

    def selected_photos(self) -> list[int]:
        return sorted(self.model.rows[index.row()] for index in self.selectionModel().selectedIndexes())
