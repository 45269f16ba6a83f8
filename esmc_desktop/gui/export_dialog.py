"""Where and how to export: destination, mode, and a preview of the folders that will be written."""

from __future__ import annotations

from pathlib import Path

from typing import Callable

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QTreeWidget, QTreeWidgetItem, QWidget)

from esmc_desktop.app.export import MODES, TAG_MODES, ExportReport, preview
from esmc_desktop.app.result import SortResult

MODE_HELP = {
    "copy": "Copies the photos; the originals stay where they are.",
    "hardlink": "Links the same files into the folders (no extra space; same disk only).",
    "symlink": "Shortcuts to the originals; they break if the originals move.",
    "move": "Moves the originals into the folders. Undo puts them back (Edit menu).",
    "tags": "Writes each photo's cluster names as keywords into an XMP sidecar next to it (IMG_1.JPG.xmp), "
            "read by digiKam, darktable, Lightroom and Immich; the photos are not changed. The destination keeps "
            "the result and the journal: Undo (Edit menu) takes exactly these keywords back.",
    "tags-embedded": "Writes the keywords into JPEG files themselves (other formats get a sidecar), after checking "
                     "the pixels stay the same. Undo (Edit menu) takes them back out.",
}


class ExportDialog(QDialog):
    def __init__(self, result: SortResult, parent: QWidget | None = None, destination: str = "") -> None:
        super().__init__(parent)
        self.result = result
        self.setWindowTitle(f"Export the result of {result.root.name}")
        self.source = QLabel(f"The result on screen: {len(result.photos):,} photos of {result.root}, as sorted and "
                             "corrected there.", wordWrap=True)
        self.source.setAccessibleName("Which result is exported")
        self.destination = QLineEdit(destination, placeholderText="Folder to write into")
        self.destination.setAccessibleName("Export destination")
        self.destination.textChanged.connect(self._preview)
        browse = QPushButton("Browse…", clicked=self._browse)
        row = QHBoxLayout()
        row.addWidget(self.destination, 1)
        row.addWidget(browse)
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setAccessibleName("Export mode")
        self.mode.currentTextChanged.connect(self._preview)
        self.help = QLabel(wordWrap=True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Folder", "Photos"])
        self.tree.setAccessibleName("Preview of the folders")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.source)
        form.addRow("Destination:", row)
        form.addRow("Mode:", self.mode)
        form.addRow("", self.help)
        form.addRow(self.tree)
        form.addRow(self.buttons)
        self.resize(560, 460)
        self._preview()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.destination.text())
        if folder:
            self.destination.setText(folder)

    def _preview(self) -> None:
        mode = self.mode.currentText()
        self.help.setText(("⚠ " if mode == "move" else "") + MODE_HELP[mode])
        self.tree.clear()
        text = self.destination.text().strip()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(text))
        if not text:
            return
        self.tree.setHeaderLabels(["Keyword" if mode in TAG_MODES else "Folder", "Photos"])
        counts = preview(self.result, Path(text), mode)  # in a tag mode: ESMC|criterion, then |cluster
        tops: dict[Path, QTreeWidgetItem] = {}
        for folder, n in counts.items():
            top = tops.get(folder.parent)
            if top is None:
                top = tops[folder.parent] = QTreeWidgetItem([folder.parent.name, ""])
                self.tree.addTopLevelItem(top)
                top.setExpanded(True)
            top.addChild(QTreeWidgetItem([folder.name, str(n)]))
        self.tree.resizeColumnToContents(0)

    def choice(self) -> tuple[Path, str]:
        return Path(self.destination.text().strip()), self.mode.currentText()


def finished_box(parent: QWidget, report: ExportReport, open_folder: Callable[[], None]) -> QMessageBox:
    """'N files are in OUT' (or where the keywords went), with Open folder; opened (not run) so the window goes on."""
    done = (f"Keywords for {report.files:,} (file, criterion) pairs are next to the photos; undo is in the Edit menu."
            if report.mode in TAG_MODES else f"{report.files:,} files are in {report.out}.")
    box = QMessageBox(QMessageBox.Icon.Information, "Export finished", done, parent=parent)
    box.addButton("Open folder", QMessageBox.ButtonRole.AcceptRole).clicked.connect(open_folder)
    box.addButton(QMessageBox.StandardButton.Close)
    box.open()
    return box
