"""The main window: photo folder, criteria, run with progress and cancel, results per criterion, export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QThread, QTimer, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from esmc_desktop.editable_result import EditableResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.gui.criterion_view import CriterionView
from esmc_desktop.gui.export_dialog import ExportDialog
from esmc_desktop.gui.model_dialog import ModelDialog
from esmc_desktop.gui.thumbnail_loader import ThumbnailLoader
from esmc_desktop.gui.worker import Task
from esmc_desktop.method.keywords import parse_keywords
from esmc_desktop.photos.export import export, sources, undo_move
from esmc_desktop.photos.thumbnails import ThumbnailCache
from esmc_desktop.pipeline import ClusterJob, Criterion, RunSettings, assign_new_photos, suggest_keywords
from esmc_desktop.saved_result import load_result, save_result

CRITERION_ROLE = Qt.ItemDataRole.UserRole + 2


class MainWindow(QMainWindow):
    """Built on the pipeline alone: it knows ClusterJob, EditableResult and export, not llama.cpp."""

    def __init__(self, lm: Path, mmproj: Path, *, cache_dir: Path | None = None,
                 settings: RunSettings = RunSettings()) -> None:
        super().__init__()
        self.lm, self.mmproj, self.cache_dir, self.settings = lm, mmproj, cache_dir, settings
        self.result: EditableResult | None = None
        self.last_export: tuple[Path, str] | None = None
        self._thread: QThread | None = None
        self._worker: Task | None = None
        self._suggest_thread: QThread | None = None
        self._suggest_task: Task | None = None
        self.thumbnails = ThumbnailLoader(ThumbnailCache(cache_dir / "thumbnails" if cache_dir else None), self)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.thumbnails.failed.connect(self._thumbnail_failed)
        self.setWindowTitle("ESMC Desktop")
        self._build()
        self._build_menus()

    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)

        row = QHBoxLayout()
        self.folder_edit = QLineEdit(placeholderText="Photo folder")
        self.folder_edit.setAccessibleName("Photo folder")
        browse = QPushButton("&Browse…", clicked=self._browse)
        browse.setToolTip("Choose the folder of photos to sort")
        row.addWidget(QLabel("Photos:"))
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.criterion_edit = QLineEdit(placeholderText='A criterion, e.g. "color of the car"')
        self.criterion_edit.setAccessibleName("New criterion")
        self.criterion_edit.returnPressed.connect(self.add_criterion)
        self.k_spin = QSpinBox(minimum=0, maximum=50, specialValueText="auto")
        self.k_spin.setToolTip("Number of clusters; auto chooses it from the photos")
        self.k_spin.setAccessibleName("Number of clusters")
        add = QPushButton("&Add", clicked=self.add_criterion)
        row.addWidget(self.criterion_edit, 1)
        row.addWidget(QLabel("Clusters:"))
        row.addWidget(self.k_spin)
        row.addWidget(add)
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
        self.status = QLabel("Choose a folder and add a criterion.")
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Results")
        layout.addWidget(self.tabs, 1)

        self.export_button = QPushButton("&Export…", clicked=self.open_export_dialog, enabled=False)
        self.export_button.setToolTip("Write the photos into one folder per criterion and cluster (Ctrl+E)")
        self.export_button.setShortcut(QKeySequence("Ctrl+E"))
        layout.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setCentralWidget(central)
        self.resize(1000, 700)

    def _build_menus(self) -> None:
        model = self.menuBar().addMenu("&Model")
        model.addAction(QAction("&Choose model files…", self, triggered=self.open_model_dialog))
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

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Photo folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def criteria(self) -> list[Criterion]:
        return [self.criteria_list.item(i).data(CRITERION_ROLE) for i in range(self.criteria_list.count())]

    def add_criterion(self) -> None:
        text = self.criterion_edit.text().strip()
        if not text:
            return
        if any(c.text == text for c in self.criteria()):
            self._error(f"'{text}' is already a criterion")
            return
        k = self.k_spin.value() or None
        keywords = tuple(parse_keywords(self.keywords_edit.text())) or None
        criterion = Criterion(text, k, keywords)
        words = f"; keywords: {', '.join(keywords)}" if keywords else ""
        self.criteria_list.addItem(f"{text}  ({k if k else 'auto'} clusters{words})")
        self.criteria_list.item(self.criteria_list.count() - 1).setData(CRITERION_ROLE, criterion)
        self.criterion_edit.clear()
        self.keywords_edit.clear()

    def suggest(self) -> None:
        """Fill the keywords field with the model's own list for the typed criterion (in a worker thread)."""
        text = self.criterion_edit.text().strip()
        if not text:
            self._error("Type a criterion first, then ask for keywords.")
            return
        if self._suggest_thread is not None and self._suggest_thread.isRunning():
            return
        lm, settings = self.lm, self.settings
        self._suggest_task = Task(lambda report, cancel: (text, suggest_keywords(text, lm, settings)))
        self._suggest_task.finished.connect(self._suggested)  # a window method: runs on the GUI thread
        self._suggest_task.failed.connect(self._error)
        self.suggest_button.setEnabled(False)
        self.status.setText(f"Asking the model for keywords of '{text}'…")
        self._suggest_thread = self._start(self._suggest_task, self._suggest_done)

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
            signal.connect(thread.quit)
        if done is not None:
            thread.finished.connect(done)
        thread.start()
        return thread

    def open_model_dialog(self) -> None:
        dialog = ModelDialog(self.lm, self.mmproj, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_model(*dialog.choice())

    def set_model(self, lm: Path, mmproj: Path) -> None:
        """Use this pair from now on, and next time the window opens (QSettings)."""
        self.lm, self.mmproj = lm, mmproj
        settings = QSettings()
        settings.setValue("model/lm", str(lm))
        settings.setValue("model/mmproj", str(mmproj))
        self.status.setText(f"Model: {lm.name} + {mmproj.name}.")

    def _remove_criterion(self) -> None:
        for item in self.criteria_list.selectedItems():
            self.criteria_list.takeItem(self.criteria_list.row(item))

    def start(self) -> None:
        folder = Path(self.folder_edit.text().strip())
        if not self.folder_edit.text().strip() or not folder.is_dir():
            self._error("Choose a folder of photos first.")
            return
        criteria = self.criteria()
        if not criteria:
            self._error("Add at least one criterion, e.g. \"color of the car\".")
            return

        def work(report, cancel):
            return ClusterJob(folder, criteria, self.lm, self.mmproj, cache_dir=self.cache_dir,
                              settings=self.settings, progress=report, cancel=cancel).run()

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

    def _on_progress(self, stage: str, done: int, total: int, seconds_left: float) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        eta = f", about {seconds_left:.0f} s left" if seconds_left >= 0 else ""
        self.status.setText(f"{stage}: {done} of {total}{eta}")

    def _on_finished(self, result) -> None:
        self.result = EditableResult(result)
        self._show_result()
        skipped = f"; {len(result.skipped)} files skipped" if result.skipped else ""
        self.status.setText(f"Sorted {len(result.photos)} photos by {len(result.criteria)} criteria{skipped}.")
        self._set_running(False)

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.status.setText("Failed.")
        self._error(message)

    def _on_cancelled(self, message: str) -> None:
        self._set_running(False)
        self.status.setText(message)

    def _show_result(self) -> None:
        self.tabs.clear()
        for ci in range(len(self.result.criteria)):
            view = CriterionView(self.result, ci)
            view.rename_requested.connect(lambda k, name, c=ci: self.rename_cluster(c, k, name))
            view.move_requested.connect(lambda photos, k, c=ci: self.move_photos(c, photos, k))
            view.thumbnails_wanted.connect(self._want_thumbnails)
            self.tabs.addTab(view, self.result.criteria[ci].text)
            self._want_thumbnails(view.visible_photos())

    def view(self, criterion: int) -> CriterionView:
        return self.tabs.widget(criterion)

    def _want_thumbnails(self, photos: list) -> None:
        for i in photos:
            photo = self.result.photos[i]
            self.thumbnails.request(photo.path, photo.sha256)

    def _thumbnail_ready(self, sha: str, file: str) -> None:
        for ci in range(self.tabs.count()):
            self.view(ci).set_thumbnail(sha, file)

    def _thumbnail_failed(self, sha: str, message: str) -> None:
        self.status.setText(f"No preview: {message}")

    def rename_cluster(self, criterion: int, cluster: int, name: str) -> None:
        try:
            self.result.rename(criterion, cluster, name)
            self.status.setText(f"Renamed to '{name.strip()}'.")
        except EsmcError as e:
            self._error(str(e))
        QTimer.singleShot(0, self.view(criterion).refresh)  # not while the list is inside its own signal

    def move_photos(self, criterion: int, photos: list[int], cluster: int) -> None:
        for photo in photos:
            self.result.move(criterion, photo, cluster)
        self.view(criterion).refresh()
        self.status.setText(f"Moved {len(photos)} photo(s) to '{self.result.criterion(criterion).names[cluster]}'.")

    def open_export_dialog(self) -> None:
        dialog = ExportDialog(self.result, self, destination=str(self.last_export[0]) if self.last_export else "")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_to(*dialog.choice())

    def export_to(self, out: Path, mode: str = "copy") -> int:
        """Write one folder per criterion and cluster, as shown; returns the number of files placed."""
        try:
            placed = export(self.result.photo_paths(), self.result.assignments(), out, mode=mode)
            save_result(self.result.source, out, self.lm, self.mmproj, names=[c.names for c in self.result.criteria])
        except (EsmcError, OSError) as e:
            self._error(str(e))
            return 0
        self.last_export = (out, mode)
        self.undo_action.setEnabled(mode == "move")
        self.open_action.setEnabled(True)
        self.status.setText(f"Exported {len(placed)} files into {out} ({mode}).")
        return len(placed)

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
        lm, mmproj, settings = self.lm, self.mmproj, self.settings

        def work(report, cancel):
            done = assign_new_photos(photos, saved, lm, mmproj, settings=settings, progress=report, cancel=cancel)
            return len(export(sources(done.photos), done.per_criterion, result)), result

        self._run_long(work, self._on_assigned, f"Assigning the photos of {photos} to {result}…")

    def _on_assigned(self, answer: tuple[int, Path]) -> None:
        placed, result = answer
        self._set_running(False)
        self.status.setText(f"Assigned: {placed} files placed into {result}.")

    def _open_export_folder(self) -> None:
        if self.last_export:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export[0])))

    def _error(self, message: str) -> None:
        self.status.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "ESMC Desktop", message, parent=self)
        box.open()

    def closeEvent(self, event) -> None:
        if self.is_running():
            self.cancel()
            self._thread.quit()
            self._thread.wait()
        if self._suggest_thread is not None:
            self._suggest_thread.wait()
        self.thumbnails.wait()
        super().closeEvent(event)
