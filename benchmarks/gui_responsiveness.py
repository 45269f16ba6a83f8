"""How the window copes with a large collection: open the folder, sort, open a big cluster, thumbnails, scroll.

    xvfb-run -s '-screen 0 1280x900x24' python benchmarks/gui_responsiveness.py --photos 10000

Prints, for each phase, its wall time and the longest gap between ticks of a 10 ms timer on
the GUI thread (the longest the window was frozen), the longest garbage collection, and what a
full collection takes with the result on screen (forced). Uses the shipped demo model on
generated photos; the cache and photos live in a temporary folder.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.app import settle_startup  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.app.sort import MethodSettings  # noqa: E402


class Collections:
    """Records the longest pause of Python's garbage collector (it stops every thread, the GUI's too)."""

    def __init__(self) -> None:
        self.worst, self.generation, self._started = 0.0, -1, 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif time.perf_counter() - self._started > self.worst:
            self.worst, self.generation = time.perf_counter() - self._started, info["generation"]

    def reset(self) -> None:
        self.worst, self.generation = 0.0, -1


class Stalls:
    """Records the gaps between timer ticks on the GUI thread."""

    def __init__(self, status) -> None:
        self.status = status  # what the window says: where the longest freeze ended
        self.last = time.perf_counter()
        self.worst, self.where = 0.0, ""
        self.timer = QTimer(interval=10, timeout=self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        if now - self.last > self.worst:
            self.worst, self.where = now - self.last, self.status()
        self.last = now

    def reset(self) -> None:
        self.last, self.worst, self.where = time.perf_counter(), 0.0, ""


def pump(app: QApplication, until, limit: float = 3600) -> float:
    started = time.perf_counter()
    while not until():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > limit:
            raise TimeoutError("gave up waiting")
    return time.perf_counter() - started


def open_cluster(app: QApplication, view, cluster: int, limit: float = 3600) -> tuple[int, float, float]:
    """Open a cluster, then wait for the thumbnails on screen and the grid's last cell (laid out a batch at a
    time); returns (its photos, seconds to the opened list, seconds more to that wait)."""
    t = time.perf_counter()
    view.clusters.setCurrentRow(cluster)
    app.processEvents()
    opened = time.perf_counter() - t
    on_screen = view.photos.visible_rows()
    last = view.model.index(view.model.rowCount() - 1)
    laid_out = pump(app, lambda: all(view.model.has_thumbnail(r) for r in on_screen)
                    and view.photos.visualRect(last).isValid(), limit)
    return view.model.rowCount(), opened, laid_out


def scroll_pages(app: QApplication, view) -> tuple[int, float]:
    """Scroll the open cluster page by page, each page painted; returns (pages, the slowest page in seconds)."""
    bar = view.photos.verticalScrollBar()
    worst, pages = 0.0, 0
    for value in range(bar.minimum(), bar.maximum() + 1, max(1, bar.pageStep())):
        t = time.perf_counter()
        bar.setValue(value)
        view.photos.viewport().repaint()
        app.processEvents()
        worst = max(worst, time.perf_counter() - t)
        pages += 1
    return pages, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10000)
    parser.add_argument("--clusters", type=int, default=2, help="fewer clusters make the opened cluster bigger")
    parser.add_argument("--work", type=Path, help="reuse this folder's photos and cache (a second run is cached)")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop-benchmark")
    work = args.work or Path(tempfile.mkdtemp(prefix="esmc-gui-bench-"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(work / "settings"))
    if not (work / "photos").is_dir() or len(list((work / "photos").iterdir())) != args.photos:
        t = time.perf_counter()
        write_photo_folder(work / "photos", args.photos, seed=21, size=96)
        print(f"generated {args.photos} photos in {time.perf_counter() - t:.1f} s")
    settle_startup()  # as `esmc-desktop gui` does before its window opens
    window = MainWindow(*(DEMO_DIR / f for f in DEMO_FILES), cache_dir=work / "cache", settings=MethodSettings())
    window.show()
    stalls = Stalls(window.status.text)
    window.open_folder(work / "photos")
    took = pump(app, lambda: window.folder_panel.folder_info.text().endswith("photos"))
    print(f"open the folder: {window.folder_panel.folder_info.text()} in {took:.1f} s; "
          f"longest freeze {stalls.worst * 1000:.0f} ms")
    grid, stalls_worst = window.tabs.folder_grid, stalls.worst
    first_screen = grid.visible_rows()
    took += pump(app, lambda: all(grid.model.has_thumbnail(r) for r in first_screen))
    print(f"  and its first {len(first_screen)} thumbnails (All photos) by {took:.1f} s; "
          f"longest freeze {max(stalls.worst, stalls_worst) * 1000:.0f} ms")
    window.criteria_panel.criterion_edit.setText("background of the photo")
    window.criteria_panel.k_spin.setValue(args.clusters)
    window.criteria_panel.add_criterion()
    stalls.reset()
    collections = Collections()

    t = time.perf_counter()
    window.start()
    print(f"the Sort button's handler returns in {(time.perf_counter() - t) * 1000:.0f} ms")
    took = pump(app, lambda: window.result is not None and not window.is_running())
    print(f"sort: {took:.1f} s ({args.photos / took:.1f} photos/s); longest freeze {stalls.worst * 1000:.0f} ms "
          f"(ending at: {stalls.where!r}); "
          f"longest garbage collection {collections.worst * 1000:.0f} ms (generation {collections.generation})")
    t = time.perf_counter()
    window.show_result(window.result)  # what the GUI thread does when a run ends, once more, timed
    app.processEvents()
    print(f"show a finished result again: {(time.perf_counter() - t) * 1000:.0f} ms on the GUI thread")
    t = time.perf_counter()
    gc.collect()
    print(f"a full garbage collection with the result on screen: {(time.perf_counter() - t) * 1000:.0f} ms "
          f"({len(gc.get_objects())} objects walked, {gc.get_freeze_count()} frozen)")
    collections.reset()

    view = window.view(0)
    biggest = max(range(view.clusters.count()), key=lambda k: len(window.result.criterion(0).members(k)))
    stalls.reset()
    shown, opened, took = open_cluster(app, view, biggest)
    print(f"open a cluster of {shown} photos: {opened:.2f} s; thumbnails asked for so far: {len(window.thumbnails._asked)}")
    print(f"thumbnails on screen (and a screen either side, {len(view.photos.visible_rows())}) and every cell laid "
          f"out: {took:.1f} s; longest freeze {stalls.worst * 1000:.0f} ms")

    bar = view.photos.verticalScrollBar()
    stalls.reset()
    steps, worst_frame = scroll_pages(app, view)
    print(f"scroll through it page by page ({steps} pages): slowest page {worst_frame * 1000:.0f} ms")
    stalls.reset()
    took = 0.0
    for value in range(bar.minimum(), bar.maximum() + 1, max(1, bar.pageStep())):  # only the newest are made:
        bar.setValue(value)  # a page waits for its own thumbnails, as someone looking at each page would
        page = view.photos.visible_rows()
        took += pump(app, lambda: all(view.model.has_thumbnail(r) for r in page))
    print(f"then every thumbnail of the cluster made, a page at a time: {took:.1f} s more; "
          f"longest freeze {stalls.worst * 1000:.0f} ms")
    print(f"longest garbage collection while the cluster was opened, scrolled and its thumbnails made: "
          f"{collections.worst * 1000:.0f} ms (generation {collections.generation})")
    window.close()


if __name__ == "__main__":
    main()
