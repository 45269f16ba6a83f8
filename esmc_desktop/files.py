"""Files appear whole or not at all, and nothing the app finds damaged is deleted.

`atomic_path` / `write_atomic`: write under a temporary sibling name, then rename, so a crash
or a full disk never leaves a half-written file under the real name (a reader sees the old
file or the new one). `move_aside`: a damaged cache is renamed with the time in its name,
never removed; it is derived data, but it may be evidence of a failing disk, and it is the
user's disk. `sha256_file`: the one content hash (photos' identity, downloads' check).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("esmc_desktop")


_HASH_CHUNK = 8 << 20


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
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, aside)
    log.warning("%s %s; it was moved aside to %s and a new one is made", path, why, aside.name)
    return aside
