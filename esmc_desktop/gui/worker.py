"""Runs a ClusterJob off the GUI thread and reports through Qt signals."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from esmc_desktop.errors import EsmcError
from esmc_desktop.pipeline import Cancelled, ClusterJob, Progress


class ClusterWorker(QObject):
    """Moved to a QThread; `run` blocks that thread, never the window's."""

    progress = Signal(str, int, int, float)  # stage, done, total, seconds left (-1 unknown)
    finished = Signal(object)  # ClusterResult
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, make_job) -> None:
        super().__init__()
        self._make_job = make_job
        self.cancel_event = threading.Event()

    def _report(self, p: Progress) -> None:
        self.progress.emit(p.stage, p.done, p.total, -1.0 if p.seconds_left is None else p.seconds_left)

    @Slot()
    def run(self) -> None:
        try:
            job: ClusterJob = self._make_job(self._report, self.cancel_event)
            self.finished.emit(job.run())
        except Cancelled as e:
            self.cancelled.emit(str(e))
        except (EsmcError, OSError, ValueError) as e:
            self.failed.emit(str(e))
