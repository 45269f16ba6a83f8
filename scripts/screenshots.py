"""Take the README's screenshots of the real window: `xvfb-run -s '-screen 0 1280x900x24' python scripts/screenshots.py`.

Generates sample photos, sorts them with the shipped demo model and saves the main states
under docs/ (start, sorting, results with thumbnails and a selected photo, the same in the
dark theme, export dialog). Settings go to a temporary folder, not the user's.
With QT_SCALE_FACTOR=2 in the environment it shows the window as on a high-DPI screen.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.export_dialog import ExportDialog  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.pipeline import RunSettings  # noqa: E402


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop-screenshots")
    work = Path(tempfile.mkdtemp(prefix="esmc-shots-"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(work / "settings"))
    write_photo_folder(work / "photos", 300, seed=11, size=256)
    (work / "photos" / "shopping list.txt").write_text("not a photo")
    window = MainWindow(*(DEMO_DIR / f for f in DEMO_FILES), cache_dir=work / "cache", settings=RunSettings())
    window.show()
    window.open_folder(work / "photos")
    for text, k in (("color of the object", 6), ("shape of the object", 5), ("background of the photo", 0)):
        window.criterion_edit.setText(text)
        window.k_spin.setValue(k)
        window.add_criterion()
    settle(app, 1.0)
    docs = REPO / "docs"
    window.grab().save(str(docs / "gui-start.png"))
    window.start()
    while not (window.status.text().startswith("Reading photos") and window.progress.value() > 60):
        settle(app, 0.02)
    window.grab().save(str(docs / "gui-sorting.png"))
    while window.is_running() or window.result is None:
        settle(app, 0.05)
    window.tabs.setCurrentWidget(window.view(1))
    window.view(1).clusters.setCurrentRow(3)
    settle(app, 1.5)
    window.thumbnails.wait()
    settle(app, 0.5)
    view = window.view(1)
    view.photos.setCurrentIndex(view.model.index(2))
    settle(app, 0.3)
    window.grab().save(str(docs / "gui-results.png"))
    window.set_theme("dark")
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-results-dark.png"))
    window.set_theme("system")
    settle(app, 0.3)
    dialog = ExportDialog(window.result, window, destination=str(Path.home() / "Pictures" / "sorted"))
    dialog.show()
    settle(app, 0.5)
    dialog.grab().save(str(docs / "gui-export.png"))
    print("saved", *(docs / f"gui-{s}.png" for s in ("start", "sorting", "results", "results-dark", "export")))


if __name__ == "__main__":
    main()
