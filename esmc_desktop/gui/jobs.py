"""Background work for the window: a job runs on its own QThread and reports progress, success or failure.

The window says what to run and what to do with the answer; this module owns the threads:
at most one long job (a sort, an export, an assignment) with Cancel, any number of short side
jobs (a folder scan, a keyword suggestion, a model check), and `shutdown` joins them all.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from esmc_desktop.app.feedback import Feedback, Progress
from esmc_desktop.errors import Cancelled, EsmcError

log = logging.getLogger("esmc_desktop.gui")
REPORT_EVERY = 0.1  # seconds
Work = Callable[[Feedback], object]


class Job(QObject):
    """Moved to a QThread; `run` blocks that thread, never the window's. `work(feedback)` returns the answer."""

    progress = Signal(object)  # a Progress (a download's bytes pass 32 bits: no int arguments)
    note = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, work: Work) -> None:
        super().__init__()
        self._work = work
        self.cancel_event = threading.Event()
        self._last_report = (None, -1.0)

    def _report(self, p: Progress) -> None:
        """At most one report per REPORT_EVERY seconds and stage (and file: a download's; and each stage's last):
        a cached run reports thousands of photos a second, and the window would spend its time drawing them."""
        now = time.monotonic()
        stage, at = self._last_report
        if stage == (p.stage, p.name) and now - at < REPORT_EVERY and p.done < p.total:
            return
        self._last_report = ((p.stage, p.name), now)
        self.progress.emit(p)

    @Slot()
    def run(self) -> None:
        feedback = Feedback(progress=self._report, note=self.note.emit, cancel=self.cancel_event)
        try:
            self.succeeded.emit(self._work(feedback))
        except Cancelled as e:
            self.cancelled.emit(str(e))
        except (EsmcError, OSError) as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug must end the job with a message, not leave the window waiting forever
            log.exception("unexpected error in a background job")
            self.failed.emit(f"Something went wrong ({type(e).__name__}: {e}). "
                             "The details are in the log (Help > Open log folder).")


class _Relay(QObject):
    """Lives on the GUI thread, so the job's signals reach the callbacks there (queued), never on the worker.

    A plain function connected to a signal runs in the emitting thread; a slot of an object on
    the GUI thread runs on the GUI thread. Widgets may only be touched from the latter.
    """

    def __init__(self, parent: QObject, on_success, on_failure, on_cancelled, on_progress, on_note, on_end,
                 settled: Callable[[], None]) -> None:
        super().__init__(parent)
        self._calls = (on_success, on_failure, on_cancelled, on_progress, on_note, on_end)
        self._settled = settled

    @Slot(object)
    def succeeded(self, answer: object) -> None:
        self._settled()
        self._calls[0](answer)

    @Slot(str)
    def failed(self, message: str) -> None:
        self._settled()
        self._calls[1](message)

    @Slot(str)
    def cancelled(self, message: str) -> None:
        self._settled()
        self._calls[2](message)

    @Slot(object)
    def progress(self, p: Progress) -> None:
        if self._calls[3] is not None:
            self._calls[3](p)

    @Slot(str)
    def note(self, sentence: str) -> None:
        if self._calls[4] is not None:
            self._calls[4](sentence)

    @Slot()
    def ended(self) -> None:
        if self._calls[5] is not None:
            self._calls[5]()
        self.deleteLater()


class JobRunner(QObject):
    """Starts jobs on threads it owns. Callbacks given to `start` run on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._long: tuple[QThread, Job] | None = None
        self._long_busy = False  # until its answer has reached the GUI thread (its thread may end sooner)
        self._side: list[tuple[QThread, Job]] = []
        if parent is not None:  # a thread destroyed while it runs takes the process down: join them first
            parent.destroyed.connect(self.shutdown)

    def start(self, work: Work, on_success: Callable[[object], None], *, on_failure: Callable[[str], None],
              on_cancelled: Callable[[str], None] | None = None,
              on_progress: Callable[[Progress], None] | None = None,
              on_note: Callable[[str], None] | None = None, long: bool = False,
              on_end: Callable[[], None] | None = None) -> Job:
        """Run `work` on a new thread. `long`: the one job with progress and Cancel (check `is_running` first)."""
        job = Job(work)
        relay = _Relay(self, on_success, on_failure, on_cancelled or on_failure, on_progress, on_note, on_end,
                       self._settle if long else lambda: None)
        job.succeeded.connect(relay.succeeded)
        job.failed.connect(relay.failed)
        job.cancelled.connect(relay.cancelled)
        job.progress.connect(relay.progress)
        job.note.connect(relay.note)
        thread = QThread(self)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        for signal in (job.succeeded, job.failed, job.cancelled):
            # Direct: the thread ends as soon as the job does, even while the GUI thread waits for it
            # (closing the window); a queued quit would wait for the GUI thread's event loop: a deadlock.
            signal.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(relay.ended)
        if long:
            self._long, self._long_busy = (thread, job), True
        else:
            self._side = [(t, j) for t, j in self._side if not t.isFinished()] + [(thread, job)]
        thread.start()
        return job

    def _settle(self) -> None:
        self._long_busy = False

    def is_running(self) -> bool:
        """Whether the long job is at work, or its answer has not reached the window yet."""
        return self._long_busy

    def cancel(self) -> bool:
        """Ask the long job to stop at its next photo or file; False when none runs."""
        if self._long is None or not self._long[0].isRunning():
            return False
        self._long[1].cancel_event.set()
        return True

    def side_jobs_running(self) -> int:
        return sum(1 for t, _ in self._side if not t.isFinished())

    def wait_side_jobs(self, timeout_ms: int = 30_000) -> bool:
        """Block until the side jobs have ended (without the GUI thread's event loop); False on timeout."""
        return all(thread.wait(timeout_ms) for thread, _ in self._side)

    def shutdown(self) -> None:
        """Cancel the long job and wait for every thread: the window is closing."""
        if self._long is not None:
            self._long[1].cancel_event.set()
        for thread, _ in ([self._long] if self._long else []) + self._side:
            thread.quit()  # ends its event loop once the job's run returns
            thread.wait()
