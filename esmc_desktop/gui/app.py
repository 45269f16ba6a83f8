"""`esmc-desktop gui`: start the window on a model pair."""

from __future__ import annotations

import sys
from pathlib import Path

from esmc_desktop.pipeline import RunSettings


def run_gui(lm: Path, mmproj: Path, settings: RunSettings, cache_dir: Path | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from esmc_desktop.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ESMC Desktop")
    window = MainWindow(lm, mmproj, cache_dir=cache_dir, settings=settings)
    window.show()
    return app.exec()
