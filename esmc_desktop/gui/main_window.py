"""The main window: a side panel (photos, criteria, model, run) beside the results, as photo tools lay it out.

The window composes widgets with one job each and calls the application layer through a
job runner; it knows no pipeline, exporter or llama.cpp.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QApplication, QDialog, QFileDialog, QGroupBox, QLabel, QMainWindow, QMessageBox,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from esmc_desktop.app.assign import assign_photos
from esmc_desktop.app.clusters import remove_cluster
from esmc_desktop.app.feedback import Progress
from esmc_desktop.app.export import TAG_MODES, UNDOABLE, export_result
from esmc_desktop.app.keywords import suggest_keywords
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.result import SortResult
from esmc_desktop.app.sort import ComputeRequest, MethodSettings, sort_photos
from esmc_desktop.app.undo import undo_export
from esmc_desktop.app.demo import demo_notice, model_label
from esmc_desktop.app.values import Merge, make_value, merge_cluster, undo_merge
from esmc_desktop.errors import EsmcError
from esmc_desktop.gui.criteria_panel import CriteriaPanel
from esmc_desktop.gui.download_dialog import DownloadDialog
from esmc_desktop.gui.export_dialog import ExportDialog, finished_box
from esmc_desktop.gui.folder_panel import FolderPanel
from esmc_desktop.gui.jobs import JobRunner
from esmc_desktop.gui.learning import LearningSteps
from esmc_desktop.gui.log_file import WarningsToStatus, log_dir
from esmc_desktop.gui.menus import Menus
from esmc_desktop.gui.model_panel import ModelPanel
from esmc_desktop.gui.photo_grid import THUMB
from esmc_desktop.gui.photo_viewer import PhotoViewer
from esmc_desktop.gui.preferences import Preferences
from esmc_desktop.gui.results_tabs import ResultsTabs
from esmc_desktop.gui.run_panel import RunPanel, count, progress_text
from esmc_desktop.gui.theme import Theme
from esmc_desktop.gui.thumbnail_loader import ThumbnailLoader
from esmc_desktop.app.options import GpuLayers
from esmc_desktop.app.view import DEFAULT_SIZE, ThumbnailCache


class MainWindow(QMainWindow):
    def __init__(self, lm: Path, mmproj: Path, *, cache_dir: Path | None = None,
                 settings: MethodSettings = MethodSettings(), compute: ComputeRequest = ComputeRequest()) -> None:
        """`compute`: the user's GPU layers, CPU threads, CPU weights and context, as asked, for this session;
        the model panel keeps them (and the pair) from then on, and each use case plans them for its model."""
        super().__init__()
        self.cache_dir, self._settings = cache_dir, settings
        self.prefs = Preferences()
        self.theme = Theme(QApplication.instance())
        self.jobs = JobRunner(self)
        self.result: SortResult | None = None
        self.merges: list[Merge] = []  # merges of the result on screen, the last one first to be undone
        self.last_export: tuple[Path, str] | None = None
        self.exported_files = 0
        self.export_done: QMessageBox | None = None
        screen = QGuiApplication.primaryScreen()
        # sharp at the default size on high DPI; larger sizes scale these up rather than hold 2.5x the memory per photo
        pixels = max(DEFAULT_SIZE, round(THUMB * (screen.devicePixelRatio() if screen else 1.0)))
        self.thumbnails = ThumbnailLoader(ThumbnailCache(cache_dir / "thumbnails" if cache_dir else None, pixels), self)
        self.thumbnails.failed.connect(lambda sha, message: self.status.setText(f"No preview: {message}"))
        self.setWindowTitle("ESMC Desktop")
        self._build(ModelFiles(Path(lm), Path(mmproj)), compute)
        self.menus = Menus(self)
        self.theme.apply(self.prefs.theme())
        self._warnings = WarningsToStatus(self.status.setText)
        self._show_model()

    def _build(self, model: ModelFiles, compute: ComputeRequest) -> None:
        self.folder_panel = FolderPanel(self.jobs, self.prefs)
        self.folder_panel.scanned.connect(self._folder_scanned)
        self.folder_panel.surveyed.connect(self._folder_surveyed)
        self.folder_panel.folder_edit.textChanged.connect(lambda _: self._label_result())
        self.folder_panel.failed.connect(self._error)
        self.criteria_panel = CriteriaPanel()
        self.criteria_panel.changed.connect(self._next_step)
        self.criteria_panel.message.connect(lambda s: self.status.setText(s))
        self.criteria_panel.refused.connect(self._error)
        self.criteria_panel.suggest_requested.connect(self.suggest)
        self.model_panel = ModelPanel(model, compute, self._settings.template, self.prefs)
        self.model_panel.changed.connect(self._model_changed)
        self.run_panel = RunPanel()
        self.run_panel.run_button.clicked.connect(self.start)
        self.run_panel.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("&Export…", clicked=self.open_export_dialog, enabled=False)
        self.export_button.setToolTip("Write the photos into one folder per criterion and cluster (Ctrl+E)")
        self.export_button.setShortcut("Ctrl+E")
        side = QWidget(objectName="side panel")
        side.setAccessibleName("Side panel")
        box = QVBoxLayout(side)
        for title, widgets, stretch in (("Photos", [self.folder_panel], 0), ("Criteria", [self.criteria_panel], 1),
                                        ("Model", [self.model_panel], 0)):
            group = QGroupBox(title)
            inner = QVBoxLayout(group)
            for widget in widgets:
                inner.addWidget(widget)
            box.addWidget(group, stretch)
        self.model_notice = QLabel(wordWrap=True, visible=False)
        self.model_notice.setAccessibleName("Note about the model")
        self.model_notice.setStyleSheet("color: #b35c00; font-weight: bold")
        box.addWidget(self.model_notice)
        box.addWidget(self.run_panel)
        box.addWidget(self.export_button)
        self.tabs = ResultsTabs(self.thumbnails)
        self.tabs.empty.open_requested.connect(self.folder_panel.browse)
        self.tabs.empty.example_chosen.connect(self.add_example)
        self.tabs.folder_grid.open_requested.connect(self.open_folder_photo)
        self.result_label = QLabel(wordWrap=True, visible=False)
        self.result_label.setAccessibleName("Which folder the result on screen is of")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.tabs.rename_requested.connect(self.rename_cluster)
        self.tabs.move_requested.connect(self.move_photos)
        self.tabs.new_cluster_requested.connect(self.move_to_new_cluster)
        self.tabs.remove_requested.connect(self.remove_cluster)
        self.tabs.make_value_requested.connect(self.make_value)
        self.tabs.merge_requested.connect(self.merge_into_value)
        self.learning = LearningSteps(self.jobs, self.tabs, lambda sentence: self.status.setText(sentence), self._error)
        self.tabs.apply_requested.connect(self.learning.apply)
        self.tabs.undo_requested.connect(self.learning.undo)
        self.tabs.resort_all_requested.connect(lambda c: self.learning.apply(c, resort="all"))
        self.tabs.reread_requested.connect(self.read_at)
        results = QWidget()
        column = QVBoxLayout(results)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.result_label)
        column.addWidget(self.tabs, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(side)
        split.addWidget(results)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 960])
        self.setCentralWidget(split)
        self.status = QLabel("Choose a folder of photos.")
        self.status.setAccessibleName("Status")
        self.statusBar().addWidget(self.status, 1)
        self.model_name = QLabel()
        self.model_name.setAccessibleName("Model in use")
        self.statusBar().addPermanentWidget(self.model_name)
        self.resize(1280, 800)

    # -- photos and criteria -------------------------------------------------------------------

    def open_folder(self, folder: Path) -> None:
        """Use this folder: it is scanned off the GUI thread and its photos shown in the All photos tab."""
        self.folder_panel.open_folder(folder)

    def _folder_scanned(self, found) -> None:
        self.tabs.show_folder(found.photos, found.skipped)
        self._show_model()
        self._label_result()
        self._next_step()

    def _folder_surveyed(self, survey) -> None:
        """Every photo opened: the broken ones get the broken-file sign, and the counts are the sort's."""
        self.tabs.mark_broken(survey.broken)
        self._next_step()

    def add_example(self, text: str, keywords: tuple[str, ...]) -> None:
        """An example criterion of the empty state, added as if typed (its values as keywords)."""
        panel = self.criteria_panel
        if any(c.text == text for c in self.criteria()):
            return
        panel.criterion_edit.setText(text)
        panel.keywords_edit.setText(", ".join(keywords))
        panel.k_spin.setValue(0)
        panel.add_criterion()
        self.status.setText(f"Added '{text}'. " + ("Now open a folder of photos." if not self.tabs.folder_photos()
                                                   else "Sort photos (Ctrl+R) when ready."))

    def open_folder_photo(self, photo: int) -> PhotoViewer:
        """A photo of the All photos tab, large (arrow keys go through the folder)."""
        grid = self.tabs.folder_grid
        photos = grid.model.photos

        def describe(i: int) -> str:
            reason = grid.model.broken.get(photos[i].sha256)
            return html.escape(str(photos[i].path)) + (f"<br>Will be skipped: {html.escape(reason)}" if reason else "")

        viewer = PhotoViewer(photos, list(grid.model.rows), photo, describe, self)
        viewer.open()
        return viewer

    def _label_result(self) -> None:
        """Say which folder the result on screen is of; loudly when the folder box names another one."""
        result = self.result
        if result is None:
            self.result_label.setVisible(False)
            return
        folder = self.folder_panel.folder()
        stale = folder.resolve() != result.root.resolve()
        self.result_label.setText(
            f"This result is of {result.root}, not of {folder}: Export and Apply corrections act on the photos of "
            f"{result.root}. Sort photos to sort {folder}." if stale else
            f"Result of {result.root}: {count(len(result.photos), 'photo')} by "
            f"{count(len(result.criteria), 'criterion', 'criteria')}, model {model_label(result.lm)}.")
        self.result_label.setStyleSheet("color: #b35c00; font-weight: bold" if stale else "")
        self.result_label.setVisible(True)
        self.export_button.setText(f"&Export the result of {result.root.name}…")
        self.export_button.setShortcut("Ctrl+E")  # the text's & made Alt+E the shortcut
        self.export_button.setToolTip(f"Write the photos of {result.root}, as sorted on screen, into one folder per "
                                      "criterion and cluster (Ctrl+E)")

    def criteria(self):
        return self.criteria_panel.criteria()

    def suggest(self, text: str) -> None:
        """The model's own keywords for the typed criterion, asked in a background job."""
        model, template, compute = self.model, self.settings.template, self.compute
        self.jobs.start(lambda feedback: (text, suggest_keywords(text, model, template=template, compute=compute)),
                        lambda answer: self.criteria_panel.show_suggestion(*answer), on_failure=self._error,
                        on_end=self.criteria_panel.suggestion_done)

    def _next_step(self) -> None:
        """Tell the user what is left to do before the first sort (while nothing runs)."""
        if self.jobs.is_running() or self.result is not None:
            return
        photos, criteria = self.tabs.folder_photos(), len(self.criteria())
        if not photos:
            self.status.setText("Choose a folder of photos.")
        elif not criteria:
            self.status.setText('Add a criterion, e.g. "color of the car".')
        else:
            self.status.setText(f"Ready to sort {count(photos, 'photo')} by "
                                f"{count(criteria, 'criterion', 'criteria')} (Sort photos, Ctrl+R).")

    # -- model and view ----------------------------------------------------------------------

    @property
    def model(self) -> ModelFiles:
        """The pair the next job runs (the model panel's)."""
        return self.model_panel.model

    @property
    def settings(self) -> MethodSettings:
        """How the next sort reads and clusters: as given, in the chat template the model panel holds."""
        return replace(self._settings, template=self.model_panel.template)

    @property
    def compute(self) -> ComputeRequest:
        """The compute choice the next job runs with (the model panel's: read when a job starts, never copied)."""
        return self.model_panel.compute

    def set_model(self, lm: Path, mmproj: Path, gpu_layers: GpuLayers = GpuLayers(),
                  threads: int | None = None, template: str | None = None) -> None:
        """Use this pair (and chat template) from now on, and next time the window opens."""
        self.model_panel.set_model(lm, mmproj, gpu_layers, threads, template)

    def _model_changed(self) -> None:
        self.status.setText(self.model_panel.describe())
        self._show_model()

    def open_download_dialog(self) -> DownloadDialog:
        """Model > Download…: a known LLaVA-1.5 pair, downloaded off the GUI thread; used once it is ready."""
        dialog = DownloadDialog(self)
        dialog.pulled.connect(lambda entry: self.set_model(entry.lm, entry.mmproj, self.compute.gpu_layers,
                                                           self.compute.threads))
        dialog.open()
        return dialog

    def _show_model(self) -> None:
        """Name the model in the status bar; say before Sort when the demo model cannot see these photos."""
        self.model_name.setText(f"Model: {model_label(self.model.lm)}")
        folder = self.folder_panel.folder()
        notice = demo_notice(self.model.lm, folder, "Model > Download…") if folder.is_dir() and str(folder) != "." \
            else None
        self.model_notice.setText(f"Note: {notice}." if notice else "")
        self.model_notice.setVisible(bool(notice))

    def set_theme(self, choice: str) -> None:
        self.theme.apply(choice)
        self.prefs.set_theme(choice)
        self.menus.theme_actions[choice].setChecked(True)

    # -- sorting -------------------------------------------------------------------------------

    def start(self) -> None:
        folder = self.folder_panel.folder()
        if str(folder) == "." or not folder.is_dir():
            return self._error("Choose a folder of photos first.")
        criteria = self.criteria()
        if not criteria:
            return self._error("Add at least one criterion, e.g. \"color of the car\".")
        if not self._may_discard_edits("Sort again?", "Sorting again replaces"):
            return
        model, cache_dir, settings, compute = self.model, self.cache_dir, self.settings, self.compute
        exclude = self.folder_panel.exclude()
        self.run_long(lambda feedback: sort_photos(folder, criteria, model, settings=settings, compute=compute,
                                                   cache_dir=cache_dir, feedback=feedback, exclude=exclude),
                      self.show_result, "Starting…")

    def read_at(self, criterion: int, layer: int, position: int) -> None:
        """Sort again with one criterion read at the place the user chose on its map (the others as they were)."""
        text = self.result.criterion(criterion).text
        token = self.result.criterion(criterion).reading.prompt_tokens[position].strip() or f"#{position}"
        self.criteria_panel.set_target(text, (layer, f"#{position}"))
        self.status.setText(f"Reading '{text}' at block {layer}, token {token!r}…")
        self.start()

    def run_long(self, work, on_success, message: str) -> None:
        """A use case with progress and Cancel (one at a time): sorting, exporting, assigning new photos."""
        self._set_running(True)
        self.status.setText(message)
        self.jobs.start(work, lambda answer: (self._set_running(False), on_success(answer)), long=True,
                        on_failure=self._failed, on_cancelled=self._cancelled, on_progress=self._progress,
                        on_note=self.status.setText)

    def cancel(self) -> None:
        if self.jobs.cancel():
            self.status.setText("Cancelling…")

    def is_running(self) -> bool:
        return self.jobs.is_running()

    def _set_running(self, running: bool) -> None:
        self.run_panel.set_running(running)
        self.export_button.setEnabled(not running and self.result is not None)

    def _progress(self, p: Progress) -> None:
        self.run_panel.show_progress(p.stage, p.done, p.total)
        self.status.setText(progress_text(p))

    def show_result(self, result: SortResult) -> None:
        self.result = result
        self.merges = []
        self.menus.undo_merge_action.setEnabled(False)
        self.learning.reset(result)
        self.tabs.show_result(result)
        self.menus.enable_learning(bool(result.criteria))
        self.folder_panel.set_skipped(result.skipped)
        if self.folder_panel.folder().resolve() == result.root.resolve():
            self.folder_panel.show_count(len(result.photos), len(result.skipped), after_sort=True)
        self._label_result()
        skipped = f"; {count(len(result.skipped), 'file')} skipped" if result.skipped else ""
        self.status.setText(f"Sorted {count(len(result.photos), 'photo')} by "
                            f"{count(len(result.criteria), 'criterion', 'criteria')}{skipped}.")
        self._set_running(False)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self._error(message)

    def _cancelled(self, message: str) -> None:
        self._set_running(False)
        self.status.setText(message)

    def view(self, criterion: int):
        return self.tabs.view(criterion)

    def rename_cluster(self, criterion: int, cluster: int, name: str) -> None:
        try:
            self.result.rename(criterion, cluster, name)
            self.status.setText(f"Renamed to '{name.strip()}'.")
        except EsmcError as e:
            self._error(str(e))
        self.tabs.refresh(criterion)

    def move_photos(self, criterion: int, photos: list[int], cluster: int) -> None:
        for photo in photos:
            self.result.move(criterion, photo, cluster)
        self.view(criterion).refresh()
        self.status.setText(f"Moved {len(photos)} photo(s) to '{self.result.criterion(criterion).names[cluster]}'.")

    def move_to_new_cluster(self, criterion: int, photos: list[int]) -> None:
        """Photos dropped on "New cluster": a cluster of their own, to rename; learning then fills it."""
        names = {n.casefold() for n in self.result.criterion(criterion).names}
        name = next(n for n in (f"new cluster {i}" if i > 1 else "new cluster" for i in range(1, len(names) + 2))
                    if n not in names)
        self.move_photos(criterion, photos, self.result.add_cluster(criterion, name))

    def remove_cluster(self, criterion: int, cluster: int) -> None:
        name = self.result.criterion(criterion).names[cluster]
        try:
            remove_cluster(self.result, criterion, cluster)
        except EsmcError as e:
            return self._error(str(e))
        self.tabs.refresh(criterion)
        self.status.setText(f"Removed the empty cluster '{name}'.")

    def make_value(self, criterion: int, cluster: int) -> None:
        """A cluster the sort found becomes a value under its name; its card's name is then ready to edit."""
        try:
            make_value(self.result, criterion, cluster)
        except EsmcError as e:
            return self._error(str(e))
        view = self.view(criterion)
        view.refresh()
        view.cards.card(cluster).name.setFocus()
        view.cards.card(cluster).name.selectAll()
        self.status.setText(f"'{self.result.criterion(criterion).names[cluster]}' is a value now; type a new name "
                            f"on its card if you like.")

    def merge_into_value(self, criterion: int, cluster: int, value: int) -> None:
        try:
            merge = merge_cluster(self.result, criterion, cluster, value)
        except EsmcError as e:
            return self._error(str(e))
        self.merges.append(merge)
        self.menus.undo_merge_action.setEnabled(True)
        self.tabs.refresh(criterion)
        self.status.setText(merge.sentence + " (Clusters ▸ Undo merge takes it back.)")

    def undo_last_merge(self) -> None:
        if not self.merges:
            return self._error("There is no merge to undo.")
        merge = self.merges[-1]
        try:
            undo_merge(self.result, merge)
        except EsmcError as e:
            return self._error(str(e))
        self.merges.pop()
        self.menus.undo_merge_action.setEnabled(bool(self.merges))
        self.tabs.refresh(merge.criterion)
        self.status.setText(f"'{merge.cluster}' is a cluster of its own again.")

    # -- export, undo, assign ------------------------------------------------------------------

    def open_export_dialog(self) -> None:
        dialog = ExportDialog(self.result, self, destination=str(self.last_export[0]) if self.last_export else "")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_to(*dialog.choice())

    def export_to(self, out: Path, mode: str = "copy") -> None:
        """Write one folder per criterion and cluster (or the keywords), as shown, with the saved heads; in a job."""
        result = self.result
        self.last_export = (out, mode)
        self.menus.undo_action.setEnabled(mode in UNDOABLE)  # also after a cancel: what was written can be removed
        self.run_long(lambda feedback: export_result(result, out, mode=mode, feedback=feedback), self._exported,
                      f"Exporting the result of {result.root} into {out} ({mode})…")

    def _exported(self, report) -> None:
        self.exported_files = report.files
        self.menus.open_action.setEnabled(True)
        if report.mode in TAG_MODES:
            self.status.setText(f"Exported keywords for {report.files:,} (file, criterion) pairs next to the photos "
                                f"of {self.result.root} ({report.mode}); the journal is in {report.out}.")
        else:
            self.status.setText(f"Exported {report.files:,} files of the result of {self.result.root} into "
                                f"{report.out} ({report.mode}).")
        self.export_done = finished_box(self, report, self.open_export_folder)

    def undo_last_move(self) -> None:
        if not self.last_export or self.last_export[1] not in UNDOABLE:
            return
        try:
            restored, untagged = undo_export(self.last_export[0])
        except (EsmcError, OSError) as e:
            return self._error(str(e))
        self.menus.undo_action.setEnabled(False)
        self.status.setText(f"Took the keywords back out of {untagged} files." if self.last_export[1] in TAG_MODES
                            else f"Put {restored} photos back where they were.")

    def assign_dialog(self) -> None:
        start = str(self.last_export[0]) if self.last_export else ""
        result = QFileDialog.getExistingDirectory(self, "An exported result (its folder)", start)
        here = str(self.folder_panel.folder())
        photos = result and QFileDialog.getExistingDirectory(self, "New photos to assign", here)
        if photos:
            self.assign(Path(photos), Path(result))

    def assign(self, photos: Path, result: Path) -> None:
        """Sort the photos in `photos` into the exported result at `result` (copies), in a background job."""
        model, compute, cache_dir = self.model, self.compute, self.cache_dir
        self.run_long(lambda feedback: assign_photos(photos, result, model, compute=compute,
                                                     feedback=feedback, cache_dir=cache_dir),
                      lambda done: self.status.setText(f"Assigned the photos of {photos}: {done.export.files} files "
                                                       f"placed into the result in {result}."),
                      f"Assigning the photos of {photos} to {result}…")

    def open_export_folder(self) -> None:
        if self.last_export:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export[0])))

    def open_log_folder(self) -> None:
        log_dir().mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def _error(self, message: str) -> None:
        self.status.setText(message)
        QMessageBox(QMessageBox.Icon.Warning, "ESMC Desktop", message, parent=self).open()

    def _may_discard_edits(self, title: str, what: str) -> bool:
        """Ask before renamed clusters and moved photos that no export has written are thrown away."""
        if self.result is None or not self.result.edited or not self.isVisible():
            return True
        answer = QMessageBox.question(self, title, f"{what} the clusters you renamed or corrected, and they have "
                                      "not been exported. Go on anyway?")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if not self._may_discard_edits("Quit?", "Quitting loses"):
            return event.ignore()
        self.folder_panel.stop()
        self.jobs.shutdown()
        self.thumbnails.wait()
        self._warnings.close()
        super().closeEvent(event)
