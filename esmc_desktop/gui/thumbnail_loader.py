"""Makes thumbnails on worker threads and hands them to the window as they are ready."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from esmc_desktop.errors import EsmcError
from esmc_desktop.app.view import ThumbnailCache

MAX_PENDING = 512  # requests waiting; the oldest beyond this are dropped (a grid asks again for what it shows)


class ThumbnailLoader(QObject):
    """`request` returns at once; `ready` fires later on the GUI thread. Each photo is made once.

    The newest request is made first and only the newest MAX_PENDING wait: scrolling through 30,000 photos
    asks for every page passed, and those pages' thumbnails are no longer wanted by the time a worker is free.
    A waiting request is a dict entry, not a task object (a queue of futures was 270,000 objects for the
    collector to walk while the user scrolled).
    """

    ready = Signal(str, str)  # sha256, thumbnail file
    failed = Signal(str, str)  # sha256, message

    def __init__(self, cache: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self._workers = max(1, (os.cpu_count() or 2) - 1)
        self._lock = threading.Condition()
        self._pending: OrderedDict[str, Path] = OrderedDict()  # sha256 -> photo, newest last
        self._asked: set[str] = set()  # waiting, being made or made
        self._running = 0  # worker threads; each stops when nothing waits

    def request(self, photo: Path, sha: str) -> None:
        with self._lock:
            if sha in self._pending:
                self._pending.move_to_end(sha)  # wanted again (on screen again): made sooner
            if sha in self._asked:
                return
            self._asked.add(sha)
            self._pending[sha] = photo
            while len(self._pending) > MAX_PENDING:
                self._asked.discard(self._pending.popitem(last=False)[0])
            if self._running < self._workers:
                self._running += 1
                threading.Thread(target=self._work, name="thumbnails").start()

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._pending:  # stopping under the lock: a request now starts a new worker
                        self._running -= 1
                        self._lock.notify_all()
                        return
                    sha, photo = self._pending.popitem()
                self._make(photo, sha)
        except BaseException:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()
            raise

    def _make(self, photo: Path, sha: str) -> None:
        try:
            self.ready.emit(sha, str(self.cache.thumbnail(photo, sha)))  # queued to the GUI thread
        except (EsmcError, OSError) as e:
            self.failed.emit(sha, str(e))

    def wait(self) -> None:
        """Finish the thumbnails asked for so far (tests, screenshots, closing the window)."""
        with self._lock:
            while self._running:
                self._lock.wait()
