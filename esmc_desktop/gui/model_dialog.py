"""Choose the model pair (LM GGUF + mmproj GGUF); both files are checked before they are accepted."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QWidget)

from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gguf_files import check_pair


class ModelDialog(QDialog):
    def __init__(self, lm: Path, mmproj: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model")
        self.lm = QLineEdit(str(lm))
        self.lm.setAccessibleName("Language model GGUF")
        self.mmproj = QLineEdit(str(mmproj))
        self.mmproj.setAccessibleName("Vision projector GGUF")
        self.verdict = QLabel(wordWrap=True)
        self.verdict.setAccessibleName("Model check")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Language model:", self._with_browse(self.lm, "Language model (…-Q4_K_M.gguf)"))
        form.addRow("Vision projector:", self._with_browse(self.mmproj, "Vision projector (…-mmproj-….gguf)"))
        form.addRow(self.verdict)
        form.addRow(self.buttons)
        self.lm.textChanged.connect(self.check)
        self.mmproj.textChanged.connect(self.check)
        self.resize(640, 180)
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
            lm, mmproj = check_pair(self.lm.text().strip(), self.mmproj.text().strip())
        except (EsmcError, OSError, ValueError) as e:
            self.verdict.setText(f"⚠ {e}")
            ok.setEnabled(False)
            return False
        self.verdict.setText(f"✓ {Path(self.lm.text()).name} and {Path(self.mmproj.text()).name} fit together.")
        ok.setEnabled(True)
        return True

    def choice(self) -> tuple[Path, Path]:
        return Path(self.lm.text().strip()), Path(self.mmproj.text().strip())
