"""Where the window writes warnings and tracebacks: a file the user can send us; the window shows sentences."""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs


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
