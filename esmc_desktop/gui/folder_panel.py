"""The photo folder: typed or browsed, with how many photos it holds and why some files are skipped.

The count is the sort's own (app.survey): the scan at once, then every photo opened in a side
job, so a file that does not decode is counted as skipped before the sort, as the sort and the
command line count it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QVBoxLayout,
                               QWidget)

from esmc_desktop.app.feedback import Progress
from esmc_desktop.app.scan import ScanResult, Skipped, display, scan_folder
from esmc_desktop.app.survey import Survey, survey
from esmc_desktop.gui.jobs import Job, JobRunner
from esmc_desktop.gui.preferences import Preferences
from esmc_desktop.gui.run_panel import count


class FolderPanel(QWidget):
    """Scans the folder the user picks (a side job) and says what it holds; `scanned` gives the scan."""

    scanned = Signal(object)  # ScanResult of the folder in the field
    surveyed = Signal(object)  # its Survey: every photo opened, the broken ones among the skipped files
    failed = Signal(str)

    def __init__(self, jobs: JobRunner, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.prefs = jobs, prefs
        self.skipped: list[Skipped] = []
        self._scanned: tuple[Path, int, tuple[str, ...]] | None = None  # the folder last scanned, its photos, exclude
        self._survey: Job | None = None
        self.folder_edit = QLineEdit(placeholderText="Photo folder")
        self.folder_edit.setAccessibleName("Photo folder")
        self.folder_edit.editingFinished.connect(lambda: self.open_folder(self.folder()))
        browse = QPushButton("&Browse…", clicked=self.browse)
        browse.setToolTip("Choose the folder of photos to sort (Ctrl+O)")
        self.folder_info = QLabel(wordWrap=True)
        self.folder_info.setAccessibleName("Photos found in the folder")
        self.skipped_button = QPushButton("Why skipped…", clicked=self.show_skipped, visible=False)
        self.skipped_button.setToolTip("The files that will not be sorted, each with the reason")
        self.exclude_edit = QLineEdit(placeholderText="Leave out: e.g. Private, *.gif")
        self.exclude_edit.setAccessibleName("Files and folders to leave out")
        self.exclude_edit.setToolTip("Names or patterns of files and folders not to sort, separated by commas (as "
                                     "--exclude); earlier exports are always left out")
        self.exclude_edit.editingFinished.connect(self._exclude_changed)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        info = QHBoxLayout()
        info.addWidget(self.folder_info, 1)
        info.addWidget(self.skipped_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.exclude_edit)
        box.addLayout(info)

    def folder(self) -> Path:
        """The folder in the field ('.' when it is empty)."""
        return Path(self.folder_edit.text().strip())

    def exclude(self) -> tuple[str, ...]:
        """The glob patterns typed in the leave-out field."""
        return tuple(p.strip() for p in self.exclude_edit.text().split(",") if p.strip())

    def _exclude_changed(self) -> None:
        """Count the folder again without what is now left out."""
        if self._scanned is not None and self._scanned[2] != self.exclude():
            self._scanned = None
            self.open_folder(self.folder())

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Photo folder", self.folder_edit.text())
        if folder:
            self.open_folder(Path(folder))

    def set_folder(self, folder: Path) -> None:
        if self.folder_edit.text() != str(folder):
            self.folder_edit.setText(str(folder))

    def open_folder(self, folder: Path) -> None:
        """Use this folder: remember it; count its photos and the files to be skipped, off the GUI thread."""
        if str(folder) == "." or not folder.is_dir():  # "." is what an empty field becomes
            self.set_skipped([])
            return self.folder_info.setText("" if str(folder) == "." else f"{folder} is not a folder.")
        self.set_folder(folder)
        exclude = self.exclude()
        if self._scanned is not None and self._scanned[0] == folder and self._scanned[1] and \
                self._scanned[2] == exclude:
            return  # the same folder again (the field lost focus): nothing new to count
        self._scanned = (folder, 0, exclude)
        self.stop()
        self.prefs.add_recent_folder(folder)
        self.set_skipped([])
        self.folder_info.setText(f"Looking at {folder}…")
        self.jobs.start(lambda feedback: (folder, scan_folder(folder, exclude)), self._show_scan,
                        on_failure=self.failed.emit)

    def _show_scan(self, answer: tuple[Path, ScanResult]) -> None:
        folder, found = answer
        if self.folder() != folder:
            return  # the user has chosen another folder since
        self._scanned = (folder, len(found.photos), self._scanned[2] if self._scanned else self.exclude())
        self.set_skipped(found.skipped)
        self.scanned.emit(found)
        if not found.photos:
            return self.show_count(0, len(found.skipped))
        self.folder_info.setText(f"{count(len(found.photos), 'photo')} found; checking that each opens…")
        self._survey = self.jobs.start(lambda feedback: (folder, survey(found, feedback=feedback)), self._show_survey,
                                       on_failure=self.failed.emit, on_cancelled=lambda message: None,
                                       on_progress=self._checking)

    def _checking(self, p: Progress) -> None:
        if self._survey is not None:
            self.folder_info.setText(f"{count(p.total, 'photo')} found; checking that each opens ({p.done:,} of "
                                     f"{p.total:,})…")

    def _show_survey(self, answer: tuple[Path, Survey]) -> None:
        folder, found = answer
        self._survey = None
        if self.folder() != folder:
            return
        self._scanned = (folder, len(found.photos), self._scanned[2] if self._scanned else self.exclude())
        self.show_count(len(found.photos), len(found.skipped))
        self.set_skipped(found.skipped)
        self.surveyed.emit(found)

    def show_count(self, photos: int, skipped: int, after_sort: bool = False) -> None:
        """'13 photos; 6 files will be skipped': the numbers the sort reports (after it: '… were skipped')."""
        will = ("was" if skipped == 1 else "were") if after_sort else "will be"
        self.folder_info.setText(count(photos, "photo") + (f"; {count(skipped, 'file')} {will} skipped" if skipped
                                                           else "") + ("" if photos else " — nothing to sort here"))

    def stop(self) -> None:
        """Stop checking the photos (another folder, or the window closes)."""
        if self._survey is not None:
            self._survey.cancel_event.set()
            self._survey = None

    def set_skipped(self, skipped: list[Skipped]) -> None:
        """The files not sorted, from the folder's scan or from the last run."""
        self.skipped = list(skipped)
        self.skipped_button.setVisible(bool(self.skipped))

    def skipped_text(self) -> str:
        return "\n".join(f"{display(s.path)}: {s.reason}" for s in self.skipped)

    def show_skipped(self) -> None:
        """The skipped files with their reasons, in a message box with details."""
        if not self.skipped:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Skipped files",
                          f"Not sorted: {count(len(self.skipped), 'file')}. Show Details gives each one's reason.",
                          parent=self)
        box.setDetailedText(self.skipped_text())
        box.open()
