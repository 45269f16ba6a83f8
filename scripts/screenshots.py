"""The README's screenshots of the real window: `xvfb-run -s '-screen 0 1280x900x24' python scripts/screenshots.py`.

Generates sample photos, sorts them with the shipped demo model and saves the main states
under docs/ (the empty window, ready to sort, sorting, the clusters as cards, one cluster's
photos with a selected photo and its keywords, the photo large, the least certain photos,
the dark theme, export dialog in folder and tags mode, a learning step from corrections),
then sorts real-size photos (4032 x 3024 JPEGs, as a phone takes them, generated from the
demo world, with two broken files among them) and a folder of real photographs found on this
machine (the sample photos matplotlib and scikit-learn ship, and crops of them). Settings go
to a temporary folder, not the user's. With QT_SCALE_FACTOR=2 in the environment it shows the
window as on a high-DPI screen. `screenshots.py learn` retakes only docs/gui-learn.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from esmc_desktop.app.sort import ComputeRequest  # noqa: E402
from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.export_dialog import ExportDialog  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402


COMPUTE = ComputeRequest(threads=1)  # the demo model is small; one thread is fastest on a busy machine


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def real_photos(folder: Path) -> Path:
    """Photographs that ship with matplotlib and scikit-learn, each also as four crops: a small real folder."""
    import matplotlib
    import sklearn

    found = [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
             *sorted((Path(sklearn.__file__).parent / "datasets" / "images").glob("*.jpg"))]
    folder.mkdir(parents=True, exist_ok=True)
    for path in found:
        image = Image.open(path).convert("RGB")
        image.save(folder / path.name, quality=92)
        w, h = image.size
        for n, box in enumerate([(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h),
                                 (w // 4, h // 4, 3 * w // 4, 3 * h // 4)]):
            image.crop(box).save(folder / f"{path.stem}-crop{n + 1}.jpg", quality=92)
    return folder


def real_size_photos(folder: Path, n: int) -> Path:
    """Demo-world photos at a phone camera's size (4032 x 3024 JPEG), and two files a sort skips."""
    small = folder.parent / f"{folder.name}-small"
    folder.mkdir(parents=True, exist_ok=True)
    for path, _ in write_photo_folder(small, n, seed=31, size=256):
        Image.open(path).convert("RGB").resize((4032, 3024), Image.BICUBIC).save(folder / f"IMG_{path.stem[-4:]}.JPG",
                                                                                 quality=90)
    whole = (folder / "IMG_0000.JPG").read_bytes()
    (folder / "IMG_9998.JPG").write_bytes(whole[: len(whole) // 3])  # cut short, as by a full card
    (folder / "IMG_9999.JPG").write_text("not a photo, whatever its name says")
    return folder


def sort(app: QApplication, window: MainWindow, folder: Path, criteria: list[tuple[str, int]]) -> None:
    window.open_folder(folder)
    panel = window.criteria_panel
    for text, k in criteria:
        panel.criterion_edit.setText(text)
        panel.k_spin.setValue(k)
        panel.add_criterion()
    settle(app, 1.0)


def wait_for_result(app: QApplication, window: MainWindow) -> None:
    while window.is_running() or window.result is None:
        settle(app, 0.05)


def learning_step(app: QApplication, model: list[Path], work: Path, truth: dict[str, str], docs: Path) -> None:
    """Six colours sorted into five clusters; three photos of a colour that shares a cluster start a new
    cluster, named after it, and Apply corrections pulls the rest of that colour after them."""
    window = MainWindow(*model, cache_dir=work / "cache", compute=COMPUTE)
    window.show()
    sort(app, window, work / "photos", [("color of the object", 5)])
    window.start()
    wait_for_result(app, window)
    crit, view = window.result.criterion(0), window.view(0)
    colour_of = {i: truth[p.path.name] for i, p in enumerate(window.result.photos)}
    mixed = max(range(len(crit.names)), key=lambda k: len({colour_of[p] for p in crit.members(k)}))
    colour = Counter(colour_of[p] for p in crit.members(mixed)).most_common()[-1][0]
    window.move_to_new_cluster(0, [p for p in crit.members(mixed) if colour_of[p] == colour][:3])
    window.rename_cluster(0, len(crit.names) - 1, colour)
    view.learn.apply_button.click()
    while view.learning:
        settle(app, 0.05)
    settle(app, 1.0)
    window.thumbnails.wait()
    settle(app, 0.5)
    view.photos.setCurrentIndex(view.model.index(0))
    settle(app, 0.3)
    window.grab().save(str(docs / "gui-learn.png"))
    window.result.edited = False  # nothing to keep: close without asking
    window.close()


def details_step(app: QApplication, model: list[Path], work: Path, docs: Path) -> None:
    """Where a criterion is read: its Details, the map of blocks by prompt tokens (K chosen automatically)."""
    window = MainWindow(*model, cache_dir=work / "cache", compute=COMPUTE)
    window.show()
    sort(app, window, work / "photos", [("background of the photo", 0)])
    window.start()
    wait_for_result(app, window)
    view = window.view(0)
    window.tabs.setCurrentWidget(view)
    view.details_button.click()
    settle(app, 1.0)
    window.thumbnails.wait()
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-details.png"))
    window.close()


def main() -> None:
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop-screenshots")
    work = Path(tempfile.mkdtemp(prefix="esmc-shots-"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(work / "settings"))
    truth = {p.name: spec.color for p, spec in write_photo_folder(work / "photos", 300, seed=11, size=256)}
    (work / "photos" / "shopping list.txt").write_text("not a photo")
    model = [DEMO_DIR / f for f in DEMO_FILES]
    docs = REPO / "docs"
    if sys.argv[1:] == ["learn"]:
        learning_step(app, model, work, truth, docs)
        return print("saved", docs / "gui-learn.png")
    if sys.argv[1:] == ["details"]:
        details_step(app, model, work, docs)
        return print("saved", docs / "gui-details.png")
    window = MainWindow(*model, cache_dir=work / "cache", compute=COMPUTE)
    window.show()
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-empty.png"))
    sort(app, window, work / "photos", [("color of the object", 6), ("shape of the object", 5),
                                        ("background of the photo", 0)])
    while not window.folder_panel.folder_info.text().endswith(("photos", "skipped")):
        settle(app, 0.05)
    window.thumbnails.wait()
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-start.png"))
    window.start()
    while not (window.status.text().startswith("Reading photos") and window.run_panel.progress.value() > 60):
        settle(app, 0.02)
    window.grab().save(str(docs / "gui-sorting.png"))
    wait_for_result(app, window)
    window.tabs.setCurrentWidget(window.view(0))
    settle(app, 1.5)
    window.thumbnails.wait()
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-results.png"))
    window.tabs.setCurrentWidget(window.view(1))
    view = window.view(1)
    view.open_cluster(3)
    settle(app, 1.5)
    window.thumbnails.wait()
    settle(app, 0.5)
    view.photos.setCurrentIndex(view.model.index(2))
    settle(app, 0.3)
    window.grab().save(str(docs / "gui-cluster.png"))
    view.grab().save(str(docs / "gui-keywords.png"))
    viewer = view.open_photo(view.shown_photos()[2])
    settle(app, 0.5)
    viewer.grab().save(str(docs / "gui-photo.png"))
    viewer.close()
    window.tabs.setCurrentWidget(window.view(0))
    window.menus.uncertain_action.trigger()
    settle(app, 1.0)
    window.thumbnails.wait()
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-uncertain.png"))
    window.view(0).show_overview()
    window.set_theme("dark")
    settle(app, 0.5)
    window.grab().save(str(docs / "gui-results-dark.png"))
    window.set_theme("system")
    settle(app, 0.3)
    dialog = ExportDialog(window.result, window, destination=str(Path.home() / "Pictures" / "sorted"))
    dialog.show()
    settle(app, 0.5)
    dialog.grab().save(str(docs / "gui-export.png"))
    dialog.mode.setCurrentText("tags")
    settle(app, 0.3)
    dialog.grab().save(str(docs / "gui-export-tags.png"))
    dialog.close()
    window.close()
    learning_step(app, model, work, truth, docs)
    details_step(app, model, work, docs)

    size = MainWindow(*model, cache_dir=work / "cache", compute=COMPUTE)
    size.show()
    sort(app, size, real_size_photos(work / "phone", 40), [("color of the object", 0)])
    while not size.folder_panel.folder_info.text().endswith("skipped"):
        settle(app, 0.05)
    size.thumbnails.wait()
    size.tabs.folder_grid.scrollToBottom()  # the two broken files come last
    settle(app, 1.0)
    size.thumbnails.wait()
    settle(app, 0.5)
    size.grab().save(str(docs / "gui-real-size-folder.png"))
    size.start()
    wait_for_result(app, size)
    size.thumbnails.wait()
    settle(app, 1.0)
    size.grab().save(str(docs / "gui-real-size.png"))
    other = work / "photos"
    size.folder_panel.folder_edit.setText(str(other))
    size.folder_panel.folder_edit.editingFinished.emit()
    settle(app, 1.5)
    size.grab().save(str(docs / "gui-other-folder.png"))
    size.close()

    real = MainWindow(*model, cache_dir=work / "cache", compute=COMPUTE)
    real.show()
    sort(app, real, real_photos(work / "real"), [("main subject of the photo", 3)])
    real.start()
    wait_for_result(app, real)
    real.thumbnails.wait()
    settle(app, 1.0)
    real.grab().save(str(docs / "gui-real-photos.png"))
    print("saved", *(docs / f"gui-{s}.png" for s in (
        "empty", "start", "sorting", "results", "cluster", "keywords", "photo", "uncertain", "results-dark", "export",
        "export-tags", "learn", "details", "real-size-folder", "real-size", "other-folder", "real-photos")))


if __name__ == "__main__":
    main()
