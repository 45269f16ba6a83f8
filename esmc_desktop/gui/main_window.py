"""The main window: photo folder, criteria, run with progress and cancel, results per criterion, export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, QTimer, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMainWindow, QMenu,
                               QMessageBox, QProgressBar, QPushButton, QSpinBox, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from esmc_desktop.editable_result import EditableResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.gui.worker import ClusterWorker
from esmc_desktop.photos.export import export
from esmc_desktop.pipeline import ClusterJob, Criterion, RunSettings

PHOTO_ROLE = Qt.ItemDataRole.UserRole
CRITERION_ROLE = Qt.ItemDataRole.UserRole + 2
CLUSTER_ROLE = Qt.ItemDataRole.UserRole + 1


class MainWindow(QMainWindow):
    """Built on the pipeline alone: it knows ClusterJob, EditableResult and export, not llama.cpp."""

    def __init__(self, lm: Path, mmproj: Path, *, cache_dir: Path | None = None,
                 settings: RunSettings = RunSettings()) -> None:
        super().__init__()
        self.lm, self.mmproj, self.cache_dir, self.settings = lm, mmproj, cache_dir, settings
        self.result: EditableResult | None = None
        self._thread: QThread | None = None
        self._worker: ClusterWorker | None = None
        self.setWindowTitle("ESMC Desktop")
        self._build()

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

        self.export_button = QPushButton("&Export…", clicked=self._export_dialog, enabled=False)
        self.export_button.setToolTip("Copy the photos into one folder per cluster (Ctrl+E)")
        self.export_button.setShortcut(QKeySequence("Ctrl+E"))
        layout.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setCentralWidget(central)
        self.resize(900, 640)

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
        criterion = Criterion(text, k)
        self.criteria_list.addItem(f"{text}  ({k if k else 'auto'} clusters)")
        self.criteria_list.item(self.criteria_list.count() - 1).setData(CRITERION_ROLE, criterion)
        self.criterion_edit.clear()

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

        def make_job(report, cancel):
            return ClusterJob(folder, criteria, self.lm, self.mmproj, cache_dir=self.cache_dir,
                              settings=self.settings, progress=report, cancel=cancel)

        self._thread = QThread(self)
        self._worker = ClusterWorker(make_job)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        for signal in (self._worker.finished, self._worker.failed, self._worker.cancelled):
            signal.connect(self._thread.quit)
        self._set_running(True)
        self.status.setText("Starting…")
        self._thread.start()

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
        for ci, crit in enumerate(self.result.criteria):
            tree = QTreeWidget()
            tree.setHeaderLabels(["Cluster / photo", "Confidence"])
            tree.setAccessibleName(f"Clusters by {crit.text}")
            tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            tree.customContextMenuRequested.connect(lambda pos, t=tree, c=ci: self._photo_menu(t, c, pos))
            tree.itemChanged.connect(lambda item, col, c=ci: self._renamed(c, item))
            self.tabs.addTab(tree, crit.text)
            self._fill_tree(ci)

    def tree(self, criterion: int) -> QTreeWidget:
        return self.tabs.widget(criterion)

    def _fill_tree(self, criterion: int) -> None:
        crit = self.result.criterion(criterion)
        tree = self.tree(criterion)
        tree.blockSignals(True)
        tree.clear()
        for k, name in enumerate(crit.names):
            members = crit.members(k)
            top = QTreeWidgetItem([name, f"{len(members)} photos"])
            top.setData(0, CLUSTER_ROLE, k)
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsEditable)
            top.setToolTip(0, "Why: " + ", ".join(crit.explanations[k]) if crit.explanations[k] else name)
            for i in members:
                child = QTreeWidgetItem([self.result.photos[i].path.name, f"{crit.confidences[i]:.2f}"])
                child.setData(0, PHOTO_ROLE, i)
                child.setToolTip(0, str(self.result.photos[i].path))
                top.addChild(child)
            tree.addTopLevelItem(top)
            top.setExpanded(True)
        tree.resizeColumnToContents(0)
        tree.blockSignals(False)

    def _renamed(self, criterion: int, item: QTreeWidgetItem) -> None:
        cluster = item.data(0, CLUSTER_ROLE)
        if cluster is None:
            return
        try:
            self.result.rename(criterion, cluster, item.text(0))
        except EsmcError as e:
            self._error(str(e))
            QTimer.singleShot(0, lambda: self._fill_tree(criterion))  # not while the tree is inside this signal

    def rename_cluster(self, criterion: int, cluster: int, name: str) -> None:
        """Rename as an edit in the tree does (the tree item's text change drives it)."""
        self.tree(criterion).topLevelItem(cluster).setText(0, name)

    def move_photo(self, criterion: int, photo: int, cluster: int) -> None:
        self.result.move(criterion, photo, cluster)
        self._fill_tree(criterion)

    def _photo_menu(self, tree: QTreeWidget, criterion: int, pos) -> None:
        item = tree.itemAt(pos)
        if item is None or item.data(0, PHOTO_ROLE) is None:
            return
        menu = QMenu(self)
        for k, name in enumerate(self.result.criterion(criterion).names):
            menu.addAction(f"Move to {name}",
                           lambda k=k, p=item.data(0, PHOTO_ROLE): self.move_photo(criterion, p, k))
        menu.exec(tree.viewport().mapToGlobal(pos))

    def _export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into")
        if folder:
            self.export_to(Path(folder))

    def export_to(self, out: Path, mode: str = "copy") -> int:
        """Write one folder per criterion and cluster, as shown; returns the number of files placed."""
        try:
            placed = export(self.result.photo_paths(), self.result.assignments(), out, mode=mode)
        except (EsmcError, OSError) as e:
            self._error(str(e))
            return 0
        self.status.setText(f"Exported {len(placed)} files into {out}.")
        return len(placed)

    def _error(self, message: str) -> None:
        self.status.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "ESMC Desktop", message, parent=self)
        box.open()

    def closeEvent(self, event) -> None:
        if self.is_running():
            self.cancel()
            self._thread.quit()
            self._thread.wait()
        super().closeEvent(event)
