"""The model in use and the compute choice, shown in the side panel, changed through the model dialog and remembered.

The panel is the one place they are kept: the window reads them from here whenever a job starts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.sort import ComputeRequest
from esmc_desktop.gui.model_dialog import ModelDialog
from esmc_desktop.gui.preferences import Preferences
from esmc_desktop.app.options import GpuLayers


class ModelPanel(QWidget):
    """The one holder of the pair, the compute choice (GPU layers, CPU threads, as asked) and the chat template
    the window runs with; `changed` when they change.

    `compute` starts as the session's (the command line's values over the remembered ones) and is written to
    the preferences only when the user changes it here.
    """

    changed = Signal()

    def __init__(self, model: ModelFiles, compute: ComputeRequest, template: str, prefs: Preferences,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.compute, self.template = model, compute, template
        self.prefs = prefs
        self.label = QLabel(wordWrap=True)
        self.label.setAccessibleName("Model in use")
        change = QPushButton("Change…", clicked=self.open_dialog)
        change.setToolTip("Model files, GPU layers, CPU threads and chat template")
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.label)
        box.addWidget(change)
        self._show()

    def open_dialog(self) -> None:
        dialog = ModelDialog(self.model.lm, self.model.mmproj, self, gpu_layers=self.compute.gpu_layers,
                             threads=self.compute.threads, template=self.template)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads, choice.template)

    def set_model(self, lm: Path, mmproj: Path, gpu_layers: GpuLayers = GpuLayers(),
                  threads: int | None = None, template: str | None = None) -> None:
        """Use this pair and compute settings from now on, and next time the window opens (QSettings)."""
        self.model = ModelFiles(Path(lm), Path(mmproj))
        self.compute = replace(self.compute, gpu_layers=gpu_layers, threads=threads)
        self.template = template or self.template
        self.prefs.set_model(self.model.lm, self.model.mmproj)
        self.prefs.set_compute(self.compute)
        self.prefs.set_template(self.template)
        self._show()
        self.changed.emit()

    def describe(self) -> str:
        return (f"Model: {self.model.lm.name} + {self.model.mmproj.name}; GPU layers {self.compute.gpu_layers}, "
                f"{self.compute.threads or 'all'} CPU threads, chat template {self.template}.")

    def _show(self) -> None:
        self.label.setText(f"{self.model.lm.name}\n{self.model.mmproj.name}\n"
                           f"GPU layers {self.compute.gpu_layers} · {self.compute.threads or 'all'} CPU threads · "
                           f"{self.template}")
        self.label.setToolTip(f"{self.model.lm}\n{self.model.mmproj}")
