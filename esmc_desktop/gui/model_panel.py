"""The model in use, shown in the side panel, changed through the model dialog and remembered."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from esmc_desktop.app.model import ModelFiles
from esmc_desktop.gui.model_dialog import ModelDialog
from esmc_desktop.gui.preferences import Preferences
from esmc_desktop.app.options import GpuLayers


class ModelPanel(QWidget):
    """Holds the pair, the GPU setting, the CPU threads and the chat template the window runs with; `changed`
    when they change."""

    changed = Signal()

    def __init__(self, model: ModelFiles, gpu_layers: GpuLayers, threads: int | None, template: str,
                 prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.gpu_layers, self.threads, self.template = model, gpu_layers, threads, template
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
        dialog = ModelDialog(self.model.lm, self.model.mmproj, self, gpu_layers=self.gpu_layers, threads=self.threads,
                             template=self.template)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads, choice.template)

    def set_model(self, lm: Path, mmproj: Path, gpu_layers: GpuLayers = GpuLayers(),
                  threads: int | None = None, template: str | None = None) -> None:
        """Use this pair and compute settings from now on, and next time the window opens (QSettings)."""
        self.model, self.gpu_layers, self.threads = ModelFiles(Path(lm), Path(mmproj)), gpu_layers, threads
        self.template = template or self.template
        self.prefs.set_model(self.model.lm, self.model.mmproj)
        self.prefs.set_compute(gpu_layers, threads)
        self.prefs.set_template(self.template)
        self._show()
        self.changed.emit()

    def describe(self) -> str:
        return (f"Model: {self.model.lm.name} + {self.model.mmproj.name}; GPU layers {self.gpu_layers}, "
                f"{self.threads or 'all'} CPU threads, chat template {self.template}.")

    def _show(self) -> None:
        self.label.setText(f"{self.model.lm.name}\n{self.model.mmproj.name}\n"
                           f"GPU layers {self.gpu_layers} · {self.threads or 'all'} CPU threads · {self.template}")
        self.label.setToolTip(f"{self.model.lm}\n{self.model.mmproj}")
