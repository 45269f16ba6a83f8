"""Files appear whole or not at all, and what the app finds damaged is kept aside a while.

`atomic_path` / `write_atomic`: write under a temporary sibling name, then rename, so a crash
or a full disk never leaves a half-written file under the real name (a reader sees the old
file or the new one). `remove_partials`: the temporary names a killed run left behind go.
`move_aside`: a damaged cache is renamed with the time in its name rather than removed: it is
derived data, but it may be evidence of a failing disk; the newest KEEP_DAMAGED copies of a
week stay, older ones go (a disk that keeps failing must not fill up with them).
`uninterrupted`: a Ctrl+C waits until a step that must be whole (a copy and its journal line)
is done. `sha256_file`: the one content hash (photos' identity, downloads' check).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import os
import re
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("esmc_desktop")


_HASH_CHUNK = 8 << 20
KEEP_DAMAGED, DAMAGED_DAYS = 3, 7
_STAMP = "%Y%m%dT%H%M%SZ"
_DAMAGED = re.compile(r"\.damaged-(\d{8}T\d{6}Z)(?:-\d+)?$")
_PARTIAL = re.compile(r"^\..+\.(\d+)-\d+\.partial$")


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a file's bytes, read in chunks so a 48 MP photo or a 4 GB model never sits in memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _temporary_sibling(path: Path) -> Path:
    """A hidden name next to `path`, unique per process and thread (several threads may make one file)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.partial")


@contextmanager
def atomic_path(path: Path | str, *, overwrite: bool = True, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on failure removed.

    `overwrite=False` refuses to replace a file that exists when the write is done
    (FileExistsError), for outputs that belong to the user. `durable` fsyncs the file
    before the rename (a move deletes originals after it, so the copy must be on disk).
    """
    path = Path(path)
    tmp = _temporary_sibling(path)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        if durable and tmp.is_file() and not tmp.is_symlink():
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        if not overwrite and (path.exists() or path.is_symlink()):
            raise FileExistsError(f"{path} appeared while it was being written; it was not replaced")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path | str, data: bytes | str, *, only_if_changed: bool = False) -> bool:
    """Replace `path` with `data` atomically; returns whether it was written.

    `only_if_changed`: leave the file alone when it already holds these bytes, so a rerun
    changes nothing (not even the modification time).
    """
    path = Path(path)
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    if only_if_changed and path.is_file() and path.read_bytes() == raw:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)
    return True


def move_aside(path: Path | str, why: str) -> Path:
    """Rename a damaged file or folder to '<name>.damaged-<UTC time>' beside it, and say so in one line.

    Returns the new name. The line goes to the "esmc_desktop" logger as a warning: the CLI
    prints it on stderr, the window in its status line.
    """
    path = Path(path)
    stamp = time.strftime(_STAMP, time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, aside)
    log.warning("%s %s; it was moved aside to %s and a new one is made", path, why, aside.name)
    prune_damaged(path)
    return aside


def prune_damaged(path: Path | str, now: float | None = None) -> list[Path]:
    """Delete the copies of `path` moved aside more than DAMAGED_DAYS ago, and all but the newest KEEP_DAMAGED.

    The age is the time in the name (when it was found damaged), not the file's own time. Returns what went.
    """
    path = Path(path)
    now = time.time() if now is None else now
    found = []
    for aside in path.parent.glob(f"{glob_escape(path.name)}.damaged-*"):
        match = _DAMAGED.search(aside.name)
        if match and aside.name[:match.start()] == path.name:
            found.append((calendar.timegm(time.strptime(match.group(1), _STAMP)), aside))
    found.sort(reverse=True)
    gone = [aside for n, (when, aside) in enumerate(found) if n >= KEEP_DAMAGED or now - when > DAMAGED_DAYS * 86400]
    for aside in gone:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)
    return gone


def glob_escape(name: str) -> str:
    """`name` as a glob pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (this one does; one we may not signal is assumed to)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process, or a system that cannot tell: assume it is running
    return True


def remove_partials(folder: Path | str, recursive: bool = True) -> int:
    """Remove the temporary files (`atomic_path`) that runs no longer alive left in `folder`; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for tmp in (folder.rglob(".*.partial") if recursive else folder.glob(".*.partial")):
        match = _PARTIAL.match(tmp.name)
        if match and not process_alive(int(match.group(1))) and (tmp.is_file() or tmp.is_symlink()):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold a Ctrl+C until the block is done, then raise it: a step that must be whole is never cut.

    Only in the main thread (where signals arrive); elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
