"""Sort and Cancel, with a progress bar that says how far, how fast and how long is left."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from esmc_desktop.app.feedback import Progress


def count(n: int, one: str, many: str | None = None) -> str:
    """'1 photo', '2,000 photos'."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def duration(seconds: float) -> str:
    """'45 s', '3 min 36 s', '2 h 05 min': a time left people read at a glance."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_text(p: Progress) -> str:
    """'Reading photos: 120 of 300 · 4.1 photos/s · about 44 s left'."""
    speed = f" · {p.photos_per_second:.1f} photos/s" if p.photos_per_second > 0 and p.stage != "exporting" else ""
    eta = f" · about {duration(p.seconds_left)} left" if p.seconds_left is not None else ""
    return f"{p.stage.capitalize()}: {p.done:,} of {p.total:,}{speed}{eta}"


class RunPanel(QWidget):
    """The buttons' state follows `set_running`; the window connects their clicks to its use cases."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_button = QPushButton("&Sort photos")
        self.run_button.setShortcut(QKeySequence("Ctrl+R"))
        self.run_button.setToolTip("Cluster the photos by every criterion (Ctrl+R)")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.cancel_button.setToolTip("Stop; finished photos stay cached and a new run resumes (Esc)")
        self.cancel_button.setShortcut(QKeySequence("Esc"))
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Progress")
        row = QHBoxLayout()
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.progress)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def show_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
