"""Runs pipeline work (a ClusterJob, a keyword suggestion) off the GUI thread, reporting through Qt signals."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from esmc_desktop.errors import EsmcError
from esmc_desktop.pipeline import Cancelled, Progress


log = logging.getLogger("esmc_desktop.gui")
REPORT_EVERY = 0.1  # seconds


class Task(QObject):
    """Moved to a QThread; `run` blocks that thread, never the window's.

    `work(report, cancel_event)` does the job and returns its result.
    """

    progress = Signal(str, int, int, float, float)  # stage, done, total, photos/s, seconds left (-1 unknown)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, work: Callable[[Callable[[Progress], None], threading.Event], object]) -> None:
        super().__init__()
        self._work = work
        self.cancel_event = threading.Event()
        self._last_report = (None, -1.0)

    def _report(self, p: Progress) -> None:
        """At most one report per REPORT_EVERY seconds and stage (and each stage's last): a cached run
        reports thousands of photos a second, and the window would spend its time drawing them."""
        now = time.monotonic()
        stage, at = self._last_report
        if stage == p.stage and now - at < REPORT_EVERY and p.done < p.total:
            return
        self._last_report = (p.stage, now)
        self.progress.emit(p.stage, p.done, p.total, p.photos_per_second,
                           -1.0 if p.seconds_left is None else p.seconds_left)

    @Slot()
    def run(self) -> None:
        try:
            self.finished.emit(self._work(self._report, self.cancel_event))
        except Cancelled as e:
            self.cancelled.emit(str(e))
        except (EsmcError, OSError, ValueError) as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug must end the run with a message, not leave the window waiting forever
            log.exception("unexpected error in a background task")
            self.failed.emit(f"Something went wrong ({type(e).__name__}: {e}). "
                             "The details are in the log (Help > Open log folder).")
