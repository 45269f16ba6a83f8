"""The model in use, shown in the side panel, changed through the model dialog and remembered."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from esmc_desktop.app.model import ModelFiles
from esmc_desktop.gui.model_dialog import ModelDialog
from esmc_desktop.gui.preferences import Preferences
from esmc_desktop.mllm.gpu import GpuLayers


class ModelPanel(QWidget):
    """Holds the pair, the GPU setting and the CPU threads the window runs with; `changed` when they change."""

    changed = Signal()

    def __init__(self, model: ModelFiles, gpu_layers: GpuLayers, threads: int | None, prefs: Preferences,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.gpu_layers, self.threads, self.prefs = model, gpu_layers, threads, prefs
        self.label = QLabel(wordWrap=True)
        self.label.setAccessibleName("Model in use")
        change = QPushButton("Change…", clicked=self.open_dialog)
        change.setToolTip("Model files, GPU layers and CPU threads")
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.label)
        box.addWidget(change)
        self._show()

    def open_dialog(self) -> None:
        dialog = ModelDialog(self.model.lm, self.model.mmproj, self, gpu_layers=self.gpu_layers, threads=self.threads)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.set_model(choice.lm, choice.mmproj, choice.gpu_layers, choice.threads)

    def set_model(self, lm: Path, mmproj: Path, gpu_layers: GpuLayers = GpuLayers(),
                  threads: int | None = None) -> None:
        """Use this pair and compute settings from now on, and next time the window opens (QSettings)."""
        self.model, self.gpu_layers, self.threads = ModelFiles(Path(lm), Path(mmproj)), gpu_layers, threads
        self.prefs.set_model(self.model.lm, self.model.mmproj)
        self.prefs.set_compute(gpu_layers, threads)
        self._show()
        self.changed.emit()

    def describe(self) -> str:
        return (f"Model: {self.model.lm.name} + {self.model.mmproj.name}; GPU layers {self.gpu_layers}, "
                f"{self.threads or 'all'} CPU threads.")

    def _show(self) -> None:
        self.label.setText(f"{self.model.lm.name}\n{self.model.mmproj.name}\n"
                           f"GPU layers {self.gpu_layers} · {self.threads or 'all'} CPU threads")
        self.label.setToolTip(f"{self.model.lm}\n{self.model.mmproj}")
