"""Choose the model pair (LM GGUF + mmproj GGUF) and where it runs; files are checked before they are accepted.

The check reads both files and probes the GPU (it loads llama.cpp), so it runs in a
background job, a moment after the last keystroke; OK waits for a good verdict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QWidget)

from esmc_desktop.app.model import ModelFiles, check_model
from esmc_desktop.gui.jobs import JobRunner
from esmc_desktop.app.options import DEFAULT_TEMPLATE, TEMPLATES, GpuLayers

TYPING_PAUSE_MS = 300


@dataclass(frozen=True)
class ModelChoice:
    lm: Path
    mmproj: Path
    gpu_layers: GpuLayers
    threads: int | None  # None: all cores
    template: str = DEFAULT_TEMPLATE  # the chat format, a name in app.options.TEMPLATES


class ModelDialog(QDialog):
    checked = Signal(bool)  # the verdict on the fields as they are now: True when the pair works

    def __init__(self, lm: Path, mmproj: Path, parent: QWidget | None = None, *, gpu_layers: GpuLayers = GpuLayers(),
                 threads: int | None = None, template: str = DEFAULT_TEMPLATE) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model")
        self.jobs = JobRunner(self)
        self._asked = 0  # the check whose answer counts (the fields may change while one runs)
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
        self.template = QComboBox()
        self.template.addItems(list(TEMPLATES))
        self.template.setCurrentText(template)
        self.template.setAccessibleName("Chat template")
        self.template.setToolTip("How prompts are put to the model: llava-v1 (LLaVA's system prompt, as ESMC's "
                                 "code; the default) or llava-hf (no system prompt)")
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
        form.addRow("Chat template:", self.template)
        form.addRow(self.verdict)
        form.addRow(self.buttons)
        self._pause = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS, timeout=self.check)
        for signal in (self.lm.textChanged, self.mmproj.textChanged, self.gpu_layers.valueChanged):
            signal.connect(self._changed)
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

    def _ok(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _changed(self) -> None:
        self._asked += 1  # an answer still on its way is about the old fields
        self._ok().setEnabled(False)
        self.verdict.setText("Checking…")
        self._pause.start()

    def check(self) -> None:
        """Check the pair as the fields say now, in the background; `checked` gives the verdict."""
        self._pause.stop()
        self._asked += 1
        asked, choice = self._asked, self.choice()
        self._ok().setEnabled(False)
        self.verdict.setText("Checking…")
        self.jobs.start(lambda feedback: check_model(ModelFiles(choice.lm, choice.mmproj), choice.gpu_layers),
                        lambda where: self._answer(asked, True, f"✓ {choice.lm.name} and {choice.mmproj.name} fit "
                                                                f"together; {where}."),
                        on_failure=lambda message: self._answer(asked, False, f"⚠ {message}"))

    def _answer(self, asked: int, ok: bool, text: str) -> None:
        if asked != self._asked:
            return  # the fields changed since: a newer check is on its way
        self.verdict.setText(text)
        self._ok().setEnabled(ok)
        self.checked.emit(ok)

    def choice(self) -> ModelChoice:
        gpu = GpuLayers() if self.gpu_layers.value() < 0 else GpuLayers(self.gpu_layers.value())
        return ModelChoice(Path(self.lm.text().strip()), Path(self.mmproj.text().strip()), gpu,
                           self.threads.value() or None, self.template.currentText())

    def done(self, result: int) -> None:
        self.jobs.shutdown()  # a check still running ends before the dialog goes
        super().done(result)
