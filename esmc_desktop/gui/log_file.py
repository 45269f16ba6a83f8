"""Where the window writes warnings and tracebacks (a file the user can send us), and warnings in the status line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import platformdirs
from PySide6.QtCore import QObject, Signal


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir("esmc-desktop", appauthor=False))


def log_to_file() -> Path:
    """Send the "esmc_desktop" logger's INFO and above to gui.log in the user log folder; returns the file."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / "gui.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("esmc_desktop")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return folder / "gui.log"


class WarningsToStatus(QObject, logging.Handler):
    """The app's warnings (a damaged cache moved aside, ...) shown by `show`, from whichever thread logs them."""

    said = Signal(str)

    def __init__(self, show: Callable[[str], None]) -> None:
        QObject.__init__(self)
        logging.Handler.__init__(self, logging.WARNING)
        self.said.connect(show)  # queued to the GUI thread when logged elsewhere
        logging.getLogger("esmc_desktop").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:  # logging.Handler's name, not a Qt signal
        self.said.emit(record.getMessage())

    def close(self) -> None:
        logging.getLogger("esmc_desktop").removeHandler(self)
        logging.Handler.close(self)
