"""Choose the model pair (LM GGUF + mmproj GGUF) and where it runs; files are checked before they are accepted."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gguf_files import check_pair
from esmc_desktop.mllm.gpu import GpuLayers, plan_gpu


@dataclass(frozen=True)
class ModelChoice:
    lm: Path
    mmproj: Path
    gpu_layers: GpuLayers
    threads: int | None  # None: all cores


class ModelDialog(QDialog):
    def __init__(self, lm: Path, mmproj: Path, parent: QWidget | None = None, *, gpu_layers: GpuLayers = GpuLayers(),
                 threads: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model")
        self.lm = QLineEdit(str(lm))
        self.lm.setAccessibleName("Language model GGUF")
        self.mmproj = QLineEdit(str(mmproj))
        self.mmproj.setAccessibleName("Vision projector GGUF")
        self.gpu_layers = QSpinBox(minimum=-1, maximum=999, specialValueText="auto")
        self.gpu_layers.setValue(-1 if gpu_layers.auto else gpu_layers.count)
        self.gpu_layers.setAccessibleName("GPU layers")
        self.gpu_layers.setToolTip("Layers of the language model run on the GPU. auto: as many as fit in free GPU "
                                   "memory (none without a GPU build of llama.cpp); 0: CPU only")
        self.threads = QSpinBox(minimum=0, maximum=max(os.cpu_count() or 1, 1) * 2, specialValueText="all cores")
        self.threads.setValue(threads or 0)
        self.threads.setAccessibleName("CPU threads")
        self.threads.setToolTip("CPU threads for the parts that run on the CPU")
        self.verdict = QLabel(wordWrap=True)
        self.verdict.setAccessibleName("Model check")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Language model:", self._with_browse(self.lm, "Language model (…-Q4_K_M.gguf)"))
        form.addRow("Vision projector:", self._with_browse(self.mmproj, "Vision projector (…-mmproj-….gguf)"))
        form.addRow("GPU layers:", self.gpu_layers)
        form.addRow("CPU threads:", self.threads)
        form.addRow(self.verdict)
        form.addRow(self.buttons)
        self.lm.textChanged.connect(self.check)
        self.mmproj.textChanged.connect(self.check)
        self.gpu_layers.valueChanged.connect(self.check)
        self.resize(640, 220)
        self.check()

    def _with_browse(self, edit: QLineEdit, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, title))
        row.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, edit.text(), "GGUF files (*.gguf);;All files (*)")
        if path:
            edit.setText(path)

    def check(self) -> bool:
        """Validate the pair now, so a wrong file is refused here and not halfway through a run."""
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            check_pair(self.lm.text().strip(), self.mmproj.text().strip())
            where = plan_gpu(self._gpu_spec(), self.lm.text().strip()).message
        except (EsmcError, OSError, ValueError) as e:
            self.verdict.setText(f"⚠ {e}")
            ok.setEnabled(False)
            return False
        self.verdict.setText(f"✓ {Path(self.lm.text()).name} and {Path(self.mmproj.text()).name} fit together; "
                             f"{where}.")
        ok.setEnabled(True)
        return True

    def _gpu_spec(self) -> GpuLayers:
        return GpuLayers() if self.gpu_layers.value() < 0 else GpuLayers(self.gpu_layers.value())

    def choice(self) -> ModelChoice:
        return ModelChoice(Path(self.lm.text().strip()), Path(self.mmproj.text().strip()), self._gpu_spec(),
                           self.threads.value() or None)
