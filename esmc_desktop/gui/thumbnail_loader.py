"""Makes thumbnails on worker threads and hands them to the window as they are ready."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from esmc_desktop.errors import EsmcError
from esmc_desktop.app.view import ThumbnailCache


class ThumbnailLoader(QObject):
    """`request` returns at once; `ready` fires later on the GUI thread. Each photo is asked for once."""

    ready = Signal(str, str)  # sha256, thumbnail file
    failed = Signal(str, str)  # sha256, message

    def __init__(self, cache: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self._workers = max(1, (os.cpu_count() or 2) - 1)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="thumbnails")
        self._asked: set[str] = set()

    def request(self, photo: Path, sha: str) -> None:
        if sha in self._asked:
            return
        self._asked.add(sha)
        self._pool.submit(self._make, photo, sha)  # a cached preview comes back at once, off the GUI thread

    def _make(self, photo: Path, sha: str) -> None:
        try:
            self.ready.emit(sha, str(self.cache.thumbnail(photo, sha)))  # queued to the GUI thread
        except (EsmcError, OSError) as e:
            self.failed.emit(sha, str(e))

    def wait(self) -> None:
        """Finish the thumbnails asked for so far (tests, screenshots, closing the window)."""
        self._pool.shutdown(wait=True)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="thumbnails")
