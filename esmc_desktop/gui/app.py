"""`esmc-desktop gui`: start the window on a model pair."""

from __future__ import annotations

import sys
from pathlib import Path

from esmc_desktop.pipeline import RunSettings


def run_gui(lm: Path, mmproj: Path, settings: RunSettings, cache_dir: Path | None = None,
            remembered_model: bool = True) -> int:
    """`remembered_model`: prefer the pair last chosen in the window (QSettings) when it still checks out."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from esmc_desktop.errors import EsmcError
    from esmc_desktop.gui.main_window import MainWindow
    from esmc_desktop.mllm.gguf_files import check_pair

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop")
    app.setApplicationName("ESMC Desktop")
    saved = QSettings()
    if remembered_model and saved.value("model/lm") and saved.value("model/mmproj"):
        try:
            check_pair(saved.value("model/lm"), saved.value("model/mmproj"))
            lm, mmproj = Path(saved.value("model/lm")), Path(saved.value("model/mmproj"))
        except (EsmcError, OSError, ValueError):
            pass  # moved or deleted since: the default pair it is
    window = MainWindow(lm, mmproj, cache_dir=cache_dir, settings=settings)
    window.show()
    return app.exec()
