"""Model > Download…: `models pull` in the window, off the GUI thread, with sizes first, progress and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QVBoxLayout)

from esmc_desktop.app.feedback import Progress
from esmc_desktop.gui.jobs import JobRunner
from esmc_desktop.app.options import CATALOG, DEFAULT_QUANT
from esmc_desktop.app.pull import PullPlan, plan_pull, run_pull

MIB = 2**20  # the bar counts MiB: Qt's int is 32-bit and the 7B file is 4 GB


class DownloadDialog(QDialog):
    """Pick a known model, see what it needs (Check), download it (Download); `pulled` carries the entry."""

    pulled = Signal(object)  # the registered ModelEntry, now the default model

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download a model")
        self.plan: PullPlan | None = None
        self.entry = None  # the ModelEntry once pulled
        self.jobs = JobRunner(self)
        self.check_button = QPushButton("&Check", clicked=self.check)
        self.download_button = QPushButton("&Download", clicked=self.download, enabled=False)
        self.cancel_button = QPushButton("Cancel", clicked=self.cancel)
        self.model_box = QComboBox()
        for model in CATALOG:
            self.model_box.addItem(f"{model.name} — {model.about}", model.name)
        self.quant_box = QComboBox()
        self.model_box.currentIndexChanged.connect(self._fill_quants)
        self.quant_box.currentIndexChanged.connect(self._forget_plan)
        self._fill_quants()
        self.source = QLineEdit(placeholderText="the Hugging Face Hub (or a mirror URL, or a folder with the files)")
        self.source.textChanged.connect(self._forget_plan)
        form = QFormLayout()
        form.addRow("Model:", self.model_box)
        form.addRow("Quantization:", self.quant_box)
        form.addRow("From:", self.source)
        self.details = QLabel("Check shows the sizes and the free space before anything is downloaded.",
                              wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar(visible=False)
        buttons = QDialogButtonBox()
        for button in (self.check_button, self.download_button, self.cancel_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)

    def _fill_quants(self) -> None:
        model = CATALOG[self.model_box.currentIndex()]
        self.quant_box.clear()
        self.quant_box.addItems(list(model.lm_files))
        self.quant_box.setCurrentText(DEFAULT_QUANT)
        self._forget_plan()

    def _forget_plan(self) -> None:
        """Another model or quantization: its sizes must be checked before Download."""
        self.plan = None
        self.download_button.setEnabled(False)

    def _run(self, work, done) -> None:
        self.check_button.setEnabled(False)
        self.download_button.setEnabled(False)
        self.jobs.start(work, done, on_failure=self._failed, on_progress=self._on_progress, long=True)

    def is_running(self) -> bool:
        return self.jobs.is_running()

    def check(self) -> None:
        """Ask the hub for sizes and hashes (off the GUI thread) and show them with the free space."""
        name, quant, source = self.model_box.currentData(), self.quant_box.currentText(), self.source.text().strip()
        self.details.setText("Asking for the file sizes…")
        self._run(lambda feedback: plan_pull(name, quant, source or None), self._planned)

    def _planned(self, plan: PullPlan) -> None:
        self.plan = plan
        self.details.setText("\n".join(plan.describe()))
        self.check_button.setEnabled(True)
        self.download_button.setEnabled(True)
        self.download_button.setText(f"&Download {plan.to_download / 1e9:.2f} GB" if plan.to_download else "&Use")

    def download(self) -> None:
        plan = self.plan

        def work(feedback):
            return run_pull(plan, progress=feedback.progress, cancel=feedback.cancel)

        self.progress.setVisible(True)
        self._run(work, self._pulled)

    def _on_progress(self, p: Progress) -> None:
        done, total = p.done // MIB, max(p.total // MIB, 1)
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{p.stage} {p.name}: {done:,} of {total:,} MiB")

    def _pulled(self, result) -> None:
        self.entry = result.entry
        self.pulled.emit(result.entry)
        note = " The projector was repaired into a new file." if result.repaired else ""
        self.details.setText(f"{result.entry.name} is ready and is now the default model.{note}")
        self.cancel_button.setText("Close")

    def _failed(self, message: str) -> None:
        self.details.setText(message)
        self.check_button.setEnabled(True)
        self.download_button.setEnabled(self.plan is not None)

    def cancel(self) -> None:
        """Stop a download (its partial file stays, so the next Download resumes it), or close."""
        if self.jobs.cancel():
            self.details.setText("Stopping…")
            return
        self.done(QDialog.DialogCode.Accepted if self.entry is not None else QDialog.DialogCode.Rejected)

    def closeEvent(self, event) -> None:
        self.jobs.cancel()
        self.jobs.shutdown()
        super().closeEvent(event)
