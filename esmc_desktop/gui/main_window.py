"""The main window: photo folder, criteria, run with progress and cancel, results per criterion, export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QThread, QTimer, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QSpinBox, QTabWidget, QVBoxLayout,
                               QWidget)

from esmc_desktop.editable_result import EditableResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.gui.log_file import log_dir
from esmc_desktop.gui.criterion_view import CriterionView
from esmc_desktop.gui.export_dialog import ExportDialog
from esmc_desktop.gui.model_dialog import ModelDialog
from esmc_desktop.gui.photo_grid import THUMB, PhotoGrid
from esmc_desktop.gui.preferences import THEMES, Preferences
from esmc_desktop.gui.theme import Theme
from esmc_desktop.gui.thumbnail_loader import ThumbnailLoader
from esmc_desktop.gui.worker import Task
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.photos.export import export, sources, undo_move
from esmc_desktop.photos.scan import ScanResult, Skipped, display, scan
from esmc_desktop.photos.thumbnails import DEFAULT_SIZE, ThumbnailCache
from esmc_desktop.mllm.gpu import GpuLayers, plan_gpu
from esmc_desktop.pipeline import (Cancelled, ClusterJob, Criterion, Progress, RunSettings, assign_new_photos,
                                   suggest_keywords)
from esmc_desktop.saved_result import load_result, save_result

CRITERION_ROLE = Qt.ItemDataRole.UserRole + 2


def with_gpu(settings: RunSettings, gpu_layers: GpuLayers, lm: Path) -> RunSettings:
    """The settings with GPU layers planned for this model; in the worker, because it loads llama.cpp."""
    return replace(settings, gpu_layers=plan_gpu(gpu_layers, lm).n_gpu_layers)


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


class MainWindow(QMainWindow):
    """Built on the pipeline alone: it knows ClusterJob, EditableResult and export, not llama.cpp."""

    def __init__(self, lm: Path, mmproj: Path, *, cache_dir: Path | None = None,
                 settings: RunSettings = RunSettings(), gpu_layers: GpuLayers = GpuLayers()) -> None:
        super().__init__()
        self.lm, self.mmproj, self.cache_dir, self.settings = lm, mmproj, cache_dir, settings
        self.gpu_layers = gpu_layers
        self.prefs = Preferences()
        self.theme = Theme(QApplication.instance())
        self.result: EditableResult | None = None
        self.skipped: list[Skipped] = []
        self.last_export: tuple[Path, str] | None = None
        self.exported_files = 0
        self.unexported_edits = False  # renames and moves not written by an export yet
        self.export_done: QMessageBox | None = None
        self._editing: int | None = None
        self._thread: QThread | None = None
        self._worker: Task | None = None
        self._side_jobs: list[tuple[QThread, Task]] = []
        self._scanned_folder: Path | None = None
        screen = QGuiApplication.primaryScreen()
        pixels = max(DEFAULT_SIZE, round(THUMB * (screen.devicePixelRatio() if screen else 1.0)))  # sharp on high DPI
        self.thumbnails = ThumbnailLoader(ThumbnailCache(cache_dir / "thumbnails" if cache_dir else None, pixels), self)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.thumbnails.failed.connect(self._thumbnail_failed)
        self.setWindowTitle("ESMC Desktop")
        self._build()
        self._build_menus()
        self.theme.apply(self.prefs.theme())

    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)

        row = QHBoxLayout()
        self.folder_edit = QLineEdit(placeholderText="Photo folder")
        self.folder_edit.setAccessibleName("Photo folder")
        self.folder_edit.editingFinished.connect(lambda: self.open_folder(Path(self.folder_edit.text().strip())))
        browse = QPushButton("&Browse…", clicked=self._browse)
        browse.setToolTip("Choose the folder of photos to sort (Ctrl+O)")
        row.addWidget(QLabel("Photos:"))
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.folder_info = QLabel()
        self.folder_info.setAccessibleName("Photos found in the folder")
        self.skipped_button = QPushButton("Why skipped…", clicked=self.show_skipped, visible=False)
        self.skipped_button.setToolTip("The files that will not be sorted, each with the reason")
        row.addWidget(self.folder_info, 1)
        row.addWidget(self.skipped_button)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.criterion_edit = QLineEdit(placeholderText='A criterion, e.g. "color of the car"')
        self.criterion_edit.setAccessibleName("New criterion")
        self.criterion_edit.returnPressed.connect(self.add_criterion)
        self.k_spin = QSpinBox(minimum=0, maximum=50, specialValueText="auto")
        self.k_spin.setToolTip("Number of clusters; auto chooses it from the photos")
        self.k_spin.setAccessibleName("Number of clusters")
        self.add_button = QPushButton("&Add", clicked=self.add_criterion)
        self.add_button.setToolTip("Add the criterion to the list (Enter)")
        row.addWidget(self.criterion_edit, 1)
        row.addWidget(QLabel("Clusters:"))
        row.addWidget(self.k_spin)
        row.addWidget(self.add_button)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.keywords_edit = QLineEdit(placeholderText="Keywords (optional): red, green, blue… Empty: the model names them")
        self.keywords_edit.setAccessibleName("Keywords of the new criterion")
        self.keywords_edit.setToolTip("Words the criterion's values are likely to be; they only guide where the "
                                      "model is read, they are not labels")
        self.suggest_button = QPushButton("S&uggest", clicked=self.suggest)
        self.suggest_button.setToolTip("Ask the model for the usual values of the criterion")
        row.addWidget(self.keywords_edit, 1)
        row.addWidget(self.suggest_button)
        layout.addLayout(row)

        self.criteria_list = QListWidget()
        self.criteria_list.setAccessibleName("Criteria")
        self.criteria_list.setMaximumHeight(90)
        remove = QAction("Remove criterion", self.criteria_list, shortcut=QKeySequence.StandardKey.Delete,
                         triggered=self._remove_criterion)
        self.criteria_list.addAction(remove)
        edit = QAction("Edit criterion", self.criteria_list, triggered=self._edit_selected_criterion)
        self.criteria_list.addAction(edit)
        self.criteria_list.itemDoubleClicked.connect(self._edit_selected_criterion)
        self.criteria_list.setToolTip("Double-click a criterion to edit it; Delete removes it")
        self.criteria_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        layout.addWidget(self.criteria_list)

        row = QHBoxLayout()
        self.run_button = QPushButton("&Sort photos", clicked=self.start)
        self.run_button.setShortcut(QKeySequence("Ctrl+R"))
        self.run_button.setToolTip("Cluster the photos by every criterion (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel", clicked=self.cancel, enabled=False)
        self.cancel_button.setToolTip("Stop; finished photos stay cached and a new run resumes (Esc)")
        self.cancel_button.setShortcut(QKeySequence("Esc"))
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Progress")
        self.status = QLabel("Choose a folder of photos.")
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Photos and results")
        self.icons: dict[str, QIcon] = {}  # thumbnails by content hash, shared by every grid
        self.folder_grid = PhotoGrid([], self.icons)
        self.folder_grid.setAccessibleName("All photos of the folder")
        self.folder_grid.thumbnails_wanted.connect(self._want_thumbnails)
        self.tabs.addTab(self.folder_grid, "All photos")
        self.criterion_views: list[CriterionView] = []
        layout.addWidget(self.tabs, 1)

        self.export_button = QPushButton("&Export…", clicked=self.open_export_dialog, enabled=False)
        self.export_button.setToolTip("Write the photos into one folder per criterion and cluster (Ctrl+E)")
        self.export_button.setShortcut(QKeySequence("Ctrl+E"))
        layout.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setCentralWidget(central)
        self.resize(1000, 700)

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        file.addAction(QAction("&Open photo folder…", self, shortcut=QKeySequence.StandardKey.Open,
                               triggered=self._browse))
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        file.addAction(QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close))
        edit = self.menuBar().addMenu("&Edit")
        self.undo_action = QAction("&Undo move export", self, enabled=False, triggered=self.undo_last_move)
        self.undo_action.setToolTip("Put the moved photos back where they were")
        edit.addAction(self.undo_action)
        self.open_action = QAction("&Open export folder", self, enabled=False, triggered=self._open_export_folder)
        edit.addAction(self.open_action)
        self.assign_action = QAction("&Assign new photos…", self, triggered=self._assign_dialog)
        self.assign_action.setToolTip("Sort new photos into an exported result with its saved heads, "
                                      "without clustering again")
        edit.addAction(self.assign_action)
        model = self.menuBar().addMenu("&Model")
        model.addAction(QAction("&Model files and GPU…", self, triggered=self.open_model_dialog))
        view = self.menuBar().addMenu("&View")
        themes = QActionGroup(self)
        self.theme_actions = {}
        for choice in THEMES:
            action = QAction(f"{choice.capitalize()} theme", self, checkable=True,
                             checked=choice == self.prefs.theme(),
                             triggered=lambda _=False, c=choice: self.set_theme(c))
            themes.addAction(action)
            view.addAction(action)
            self.theme_actions[choice] = action
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(QAction("Open &log folder", self, triggered=self._open_log_folder))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.prefs.recent_folders()
        for folder in folders:
            self.recent_menu.addAction(str(folder), lambda f=folder: self.open_folder(f))
        if not folders:
            self.recent_menu.addAction("No folders yet").setEnabled(False)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Photo folder", self.folder_edit.text())
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> None:
        """Use this folder: remember it; count its photos and the files to be skipped, off the GUI thread."""
        if str(folder) == "." or not folder.is_dir():  # "." is what an empty field becomes
            self.folder_info.setText("" if str(folder) == "." else f"{folder} is not a folder.")
            self.skipped_button.setVisible(False)
            return
        if self.folder_edit.text() != str(folder):
            self.folder_edit.setText(str(folder))
        if folder == self._scanned_folder and self.folder_grid.model.rowCount():
            return  # the same folder again (the field lost focus): nothing new to count
        self._scanned_folder = folder
        self.prefs.add_recent_folder(folder)
        self.skipped = []
        self.folder_info.setText(f"Looking at {folder}…")
        self.skipped_button.setVisible(False)
        task = Task(lambda report, cancel: (folder, scan(folder)))
        task.finished.connect(self._folder_scanned)
        task.failed.connect(self._error)
        self._start_side(task)

    def _folder_scanned(self, answer: tuple[Path, ScanResult]) -> None:
        folder, found = answer
        if Path(self.folder_edit.text().strip()) != folder:
            return  # the user has chosen another folder since
        self.skipped = list(found.skipped)
        n, skipped = len(found.photos), len(found.skipped)
        self.folder_grid.show_all(found.photos)
        self.tabs.setTabText(0, f"All photos ({n:,})")
        self.folder_info.setText(count(n, "photo") + (f"; {count(skipped, 'file')} will be skipped" if skipped else "")
                                 + ("" if n else " — nothing to sort here"))
        self.skipped_button.setVisible(bool(skipped))
        self._next_step()

    def show_skipped(self) -> None:
        """The skipped files with their reasons: from the folder's scan, or from the last run when there was one."""
        if not self.skipped:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Skipped files",
                          f"Not sorted: {count(len(self.skipped), 'file')}. Show Details gives each one's reason.",
                          parent=self)
        box.setDetailedText(self.skipped_text())
        box.open()

    def skipped_text(self) -> str:
        return "\n".join(f"{display(s.path)}: {s.reason}" for s in self.skipped)

    def criteria(self) -> list[Criterion]:
        return [self.criteria_list.item(i).data(CRITERION_ROLE) for i in range(self.criteria_list.count())]

    def add_criterion(self) -> None:
        """Add what the fields say as a criterion, or, while one is being edited, put it back changed."""
        text = self.criterion_edit.text().strip()
        if not text:
            return
        if any(c.text == text for i, c in enumerate(self.criteria()) if i != self._editing):
            self._error(f"'{text}' is already a criterion")
            return
        k = self.k_spin.value() or None
        keywords = tuple(parse_keywords(self.keywords_edit.text())) or None
        criterion = Criterion(text, k, keywords)
        words = f"; keywords: {', '.join(keywords)}" if keywords else ""
        label = f"{text}  ({k if k else 'auto'} clusters{words})"
        if self._editing is not None:
            item = self.criteria_list.item(self._editing)
            item.setText(label)
            self._editing = None
            self.add_button.setText("&Add")
        else:
            self.criteria_list.addItem(label)
            item = self.criteria_list.item(self.criteria_list.count() - 1)
        item.setData(CRITERION_ROLE, criterion)
        self.criterion_edit.clear()
        self.keywords_edit.clear()
        self.k_spin.setValue(0)
        self._next_step()

    def _edit_selected_criterion(self, *_) -> None:
        row = self.criteria_list.currentRow()
        if row < 0:
            return
        criterion = self.criteria()[row]
        self._editing = row
        self.criterion_edit.setText(criterion.text)
        self.k_spin.setValue(criterion.k or 0)
        self.keywords_edit.setText(", ".join(criterion.keywords or ()))
        self.add_button.setText("&Update")
        self.criterion_edit.setFocus()
        self.status.setText(f"Editing '{criterion.text}': change it and press Update.")

    def suggest(self) -> None:
        """Fill the keywords field with the model's own list for the typed criterion (in a worker thread)."""
        text = self.criterion_edit.text().strip()
        if not text:
            self._error("Type a criterion first, then ask for keywords.")
            return
        if not self.suggest_button.isEnabled():
            return
        lm, settings = self.lm, self.settings
        task = Task(lambda report, cancel: (text, suggest_keywords(text, lm, settings)))
        task.finished.connect(self._suggested)  # a window method: runs on the GUI thread
        task.failed.connect(self._error)
        self.suggest_button.setEnabled(False)
        self.status.setText(f"Asking the model for keywords of '{text}'…")
        self._start_side(task, self._suggest_done)

    def _suggested(self, answer: tuple[str, list[str]]) -> None:
        text, words = answer
        self.keywords_edit.setText(", ".join(words))
        self.status.setText(f"The model suggests {len(words)} keywords for '{text}'." if words else
                            f"The model named no keywords for '{text}'; type some, or leave it empty.")

    def _suggest_done(self) -> None:
        self.suggest_button.setEnabled(True)

    def _start(self, task: Task, done=None) -> QThread:
        """Run a task on a new QThread; `done` (a window method) is called on the GUI thread at the end."""
        thread = QThread(self)
        task.moveToThread(thread)
        thread.started.connect(task.run)
        for signal in (task.finished, task.failed, task.cancelled):
            # Direct: the thread ends as soon as the task does, even while the GUI thread waits for it
            # (closing the window); a queued quit would wait for the GUI thread's event loop: a deadlock.
            signal.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        if done is not None:
            thread.finished.connect(done)
        thread.start()
        return thread

    def _start_side(self, task: Task, done=None) -> None:
        """A short job beside the runs (a folder scan, a keyword suggestion); held until it has finished."""
        self._side_jobs = [(t, j) for t, j in self._side_jobs if not t.isFinished()]
        self._side_jobs.append((self._start(task, done), task))

    def open_model_dialog(self) -> None:
        dialog = ModelDialog(self.lm, self.mmproj, self, gpu_layers=self.gpu_layers, threads=self.settings.threads)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads)

    def set_model(self, lm: Path, mmproj: Path, gpu_layers: GpuLayers = GpuLayers(), threads: int | None = None) -> None:
        """Use this pair and compute settings from now on, and next time the window opens (QSettings)."""
        self.lm, self.mmproj, self.gpu_layers = lm, mmproj, gpu_layers
        self.settings = replace(self.settings, threads=threads)
        self.prefs.set_model(lm, mmproj)
        self.prefs.set_compute(gpu_layers, threads)
        self.status.setText(f"Model: {lm.name} + {mmproj.name}; GPU layers {gpu_layers}, "
                            f"{threads or 'all'} CPU threads.")

    def set_theme(self, choice: str) -> None:
        self.theme.apply(choice)
        self.prefs.set_theme(choice)
        self.theme_actions[choice].setChecked(True)

    def _remove_criterion(self) -> None:
        for item in self.criteria_list.selectedItems():
            self.criteria_list.takeItem(self.criteria_list.row(item))
        if self._editing is not None:  # its row may have moved: the fields become a new criterion
            self._editing = None
            self.add_button.setText("&Add")
        self._next_step()

    def _next_step(self) -> None:
        """Tell the user what is left to do before the first sort (while nothing runs)."""
        if self.is_running() or self.result is not None:
            return
        photos = self.folder_grid.model.rowCount()
        criteria = len(self.criteria())
        if not photos:
            self.status.setText("Choose a folder of photos.")
        elif not criteria:
            self.status.setText('Add a criterion, e.g. "color of the car".')
        else:
            self.status.setText(f"Ready to sort {count(photos, 'photo')} by "
                                f"{count(criteria, 'criterion', 'criteria')} (Sort photos, Ctrl+R).")

    def start(self) -> None:
        folder = Path(self.folder_edit.text().strip())
        if not self.folder_edit.text().strip() or not folder.is_dir():
            self._error("Choose a folder of photos first.")
            return
        criteria = self.criteria()
        if not criteria:
            self._error("Add at least one criterion, e.g. \"color of the car\".")
            return
        if not self._may_discard_edits("Sort again?", "Sorting again replaces"):
            return

        lm, mmproj, cache_dir, settings, gpu = self.lm, self.mmproj, self.cache_dir, self.settings, self.gpu_layers

        def work(report, cancel):
            return ClusterJob(folder, criteria, lm, mmproj, cache_dir=cache_dir, settings=with_gpu(settings, gpu, lm),
                              progress=report, cancel=cancel).run()

        self._run_long(work, self._on_finished, "Starting…")

    def _run_long(self, work, on_finished, message: str) -> None:
        """A run with progress and Cancel (one at a time): sorting, or assigning new photos."""
        self._worker = Task(work)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._set_running(True)
        self.status.setText(message)
        self._thread = self._start(self._worker)

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel_event.set()
            self.status.setText("Cancelling…")

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(not running and self.result is not None)

    def _on_progress(self, stage: str, done: int, total: int, rate: float, seconds_left: float) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        speed = f" · {rate:.1f} photos/s" if rate > 0 and stage != "exporting" else ""
        eta = f" · about {duration(seconds_left)} left" if seconds_left >= 0 else ""
        self.status.setText(f"{stage.capitalize()}: {done:,} of {total:,}{speed}{eta}")

    def _on_finished(self, result) -> None:
        self.result = EditableResult(result)
        self.unexported_edits = False
        self._show_result()
        self.skipped = list(result.skipped)
        self.skipped_button.setVisible(bool(self.skipped))
        skipped = f"; {count(len(result.skipped), 'file')} skipped" if result.skipped else ""
        self.status.setText(f"Sorted {count(len(result.photos), 'photo')} by "
                            f"{count(len(result.criteria), 'criterion', 'criteria')}{skipped}.")
        self._set_running(False)

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.status.setText("Failed.")
        self._error(message)

    def _on_cancelled(self, message: str) -> None:
        self._set_running(False)
        self.status.setText(message)

    def _show_result(self) -> None:
        for view in self.criterion_views:
            self.tabs.removeTab(self.tabs.indexOf(view))
            view.deleteLater()
        self.criterion_views = []
        for ci in range(len(self.result.criteria)):
            view = CriterionView(self.result, ci, self.icons)
            view.rename_requested.connect(lambda k, name, c=ci: self.rename_cluster(c, k, name))
            view.move_requested.connect(lambda photos, k, c=ci: self.move_photos(c, photos, k))
            view.thumbnails_wanted.connect(self._want_thumbnails)
            self.criterion_views.append(view)
            self.tabs.addTab(view, self.result.criteria[ci].text)
        self.tabs.setCurrentWidget(self.criterion_views[0])

    def view(self, criterion: int) -> CriterionView:
        return self.criterion_views[criterion]

    def _want_thumbnails(self, photos: list) -> None:
        for photo in photos:
            self.thumbnails.request(photo.path, photo.sha256)

    def _thumbnail_ready(self, sha: str, file: str) -> None:
        self.icons.setdefault(sha, QIcon(file))
        self.folder_grid.thumbnail_ready(sha)
        for view in self.criterion_views:
            view.thumbnail_ready(sha)

    def _thumbnail_failed(self, sha: str, message: str) -> None:
        self.status.setText(f"No preview: {message}")

    def rename_cluster(self, criterion: int, cluster: int, name: str) -> None:
        try:
            self.result.rename(criterion, cluster, name)
            self.unexported_edits = True
            self.status.setText(f"Renamed to '{name.strip()}'.")
        except EsmcError as e:
            self._error(str(e))
        QTimer.singleShot(0, self.view(criterion).refresh)  # not while the list is inside its own signal

    def move_photos(self, criterion: int, photos: list[int], cluster: int) -> None:
        for photo in photos:
            self.result.move(criterion, photo, cluster)
        self.unexported_edits = True
        self.view(criterion).refresh()
        self.status.setText(f"Moved {len(photos)} photo(s) to '{self.result.criterion(criterion).names[cluster]}'.")

    def open_export_dialog(self) -> None:
        dialog = ExportDialog(self.result, self, destination=str(self.last_export[0]) if self.last_export else "")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_to(*dialog.choice())

    def export_to(self, out: Path, mode: str = "copy") -> None:
        """Write one folder per criterion and cluster, as shown, in a worker thread with progress and Cancel."""
        photos, assignments = self.result.photo_paths(), self.result.assignments()
        source, names, lm, mmproj = self.result.source, [c.names for c in self.result.criteria], self.lm, self.mmproj

        def work(report, cancel):
            def placed(done: int, total: int) -> None:
                if cancel.is_set():
                    raise Cancelled(f"export cancelled: the folders written so far stay in {out}; "
                                    "no original was removed" + (" (Undo move export removes them)"
                                                                 if mode == "move" else ""))
                report(Progress("exporting", done, total))

            files = export(photos, assignments, out, mode=mode, progress=placed)
            save_result(source, out, lm, mmproj, names=names)
            return out, mode, len(files)

        self.last_export = (out, mode)
        self.undo_action.setEnabled(mode == "move")  # also after a cancel: the copies made so far can be removed
        self._run_long(work, self._on_exported, f"Exporting into {out} ({mode})…")

    def _on_exported(self, answer: tuple[Path, str, int]) -> None:
        out, mode, placed = answer
        self._set_running(False)
        self.exported_files = placed
        self.unexported_edits = False
        self.open_action.setEnabled(True)
        self.status.setText(f"Exported {placed:,} files into {out} ({mode}).")
        self.export_done = QMessageBox(QMessageBox.Icon.Information, "Export finished",
                                       f"{placed:,} files are in {out}.", parent=self)
        self.export_done.addButton("Open folder", QMessageBox.ButtonRole.AcceptRole).clicked.connect(
            self._open_export_folder)
        self.export_done.addButton(QMessageBox.StandardButton.Close)
        self.export_done.open()

    def undo_last_move(self) -> None:
        if not self.last_export or self.last_export[1] != "move":
            return
        try:
            restored = undo_move(self.last_export[0])
        except (EsmcError, OSError) as e:
            self._error(str(e))
            return
        self.undo_action.setEnabled(False)
        self.status.setText(f"Put {restored} photos back where they were.")

    def _assign_dialog(self) -> None:
        start = str(self.last_export[0]) if self.last_export else ""
        result = QFileDialog.getExistingDirectory(self, "An exported result (its folder)", start)
        if not result:
            return
        photos = QFileDialog.getExistingDirectory(self, "New photos to assign", self.folder_edit.text())
        if photos:
            self.assign(Path(photos), Path(result))

    def assign(self, photos: Path, result: Path) -> None:
        """Sort the photos in `photos` into the exported result at `result` (copies), in a worker thread."""
        try:
            saved = load_result(result)
        except EsmcError as e:
            self._error(str(e))
            return
        lm, mmproj, settings, gpu = self.lm, self.mmproj, self.settings, self.gpu_layers

        def work(report, cancel):
            done = assign_new_photos(photos, saved, lm, mmproj, settings=with_gpu(settings, gpu, lm), progress=report,
                                     cancel=cancel)
            return len(export(sources(done.photos), done.per_criterion, result)), result

        self._run_long(work, self._on_assigned, f"Assigning the photos of {photos} to {result}…")

    def _on_assigned(self, answer: tuple[int, Path]) -> None:
        placed, result = answer
        self._set_running(False)
        self.status.setText(f"Assigned: {placed} files placed into {result}.")

    def _open_export_folder(self) -> None:
        if self.last_export:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export[0])))

    def _open_log_folder(self) -> None:
        log_dir().mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def _error(self, message: str) -> None:
        self.status.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "ESMC Desktop", message, parent=self)
        box.open()

    def _may_discard_edits(self, title: str, what: str) -> bool:
        """Ask before renamed clusters and moved photos that no export has written are thrown away."""
        if not self.unexported_edits or not self.isVisible():
            return True
        answer = QMessageBox.question(self, title, f"{what} the clusters you renamed or corrected, and they have "
                                      "not been exported. Go on anyway?")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if not self._may_discard_edits("Quit?", "Quitting loses"):
            event.ignore()
            return
        if self.is_running():
            self.cancel()
            self._thread.quit()
            self._thread.wait()
        for thread, _ in self._side_jobs:
            thread.quit()  # ends its event loop once the task's run returns
            thread.wait()
        self.thumbnails.wait()
        super().closeEvent(event)
