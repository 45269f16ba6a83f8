"""One photo, large, with what the sort says about it; the arrow keys go through the photos it was opened among."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout, QWidget

from esmc_desktop.app.scan import Photo
from esmc_desktop.errors import EsmcError
from esmc_desktop.app.view import load_rgb

VIEW_SIDE = 1024  # pixels decoded for the large view: a JPEG is read at the smallest scale that still fills it


class PhotoViewer(QDialog):
    """Space, Enter or a double-click on a thumbnail opens it; Left/Right (Up/Down) move, Space or Esc close."""

    def __init__(self, photos: list[Photo], order: list[int], start: int, describe: Callable[[int], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photos, self.order, self.describe = photos, list(order), describe
        self.position = self.order.index(start) if start in self.order else 0
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setMinimumSize(480, 360)
        self.image.setAccessibleName("The photo")
        self.text = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setAccessibleName("What the sort says about the photo")
        box = QVBoxLayout(self)
        box.addWidget(self.image, 1)
        box.addWidget(self.text)
        self._pixmap = QPixmap()
        self.resize(1000, 800)
        self.show_photo()

    def photo(self) -> int:
        """The photo shown (an index into the result's photos)."""
        return self.order[self.position]

    def show_photo(self) -> None:
        photo = self.photos[self.photo()]
        self.setWindowTitle(f"{photo.path.name} — {self.position + 1} of {len(self.order)}")
        self._pixmap = load_pixmap(photo.path)
        if self._pixmap.isNull():
            self.image.setText("This file can't be shown (it does not decode).")
        self._fit()
        self.text.setText(self.describe(self.photo()) + "<br><small>← → the other photos · Esc closes</small>")

    def step(self, by: int) -> None:
        """Move through the photos it was opened among (stops at either end)."""
        position = min(max(self.position + by, 0), len(self.order) - 1)
        if position != self.position:
            self.position = position
            self.show_photo()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            return self.step(1)
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            return self.step(-1)
        if key == Qt.Key.Key_Space:
            return self.accept()
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self._pixmap.isNull():
            self.image.setPixmap(self._pixmap.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))


def load_pixmap(path: Path) -> QPixmap:
    """The photo upright in RGB, decoded about VIEW_SIDE large (any format the sort reads); null when it can't be."""
    try:
        image = load_rgb(path, min_side=VIEW_SIDE)
    except (EsmcError, OSError):
        return QPixmap()
    image.thumbnail((2 * VIEW_SIDE, 2 * VIEW_SIDE))
    data = image.tobytes()
    qimage = QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())
