"""File names as the file system has them, in JSON and CSV records that other programs read too.

On Linux a name is bytes; one that is not UTF-8 (say `caf\xe9.png` from a Latin-1 camera card)
has no faithful text form. Such a path is stored twice: `key` holds a readable form
(the odd bytes as `\\xe9`), and `key + "_fs"` the exact bytes in base64, which reading prefers.
Every other path is stored as its text alone, as before.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

SUFFIX = "_fs"


def readable(path: Path | str) -> str:
    """`path` as text; bytes that are not UTF-8 written as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def exact(path: Path | str) -> str | None:
    """The base64 of `path`'s bytes when its text form would lose them, else None."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")
    return None


def store(record: dict, key: str, path: Path | str | None) -> dict:
    """Put `path` into `record` under `key` (and `key`_fs when needed); returns `record`."""
    if path is None:
        record[key] = None
        return record
    record[key] = readable(path)
    raw = exact(path)
    if raw is not None:
        record[key + SUFFIX] = raw
    return record


def load(record: dict, key: str) -> str | None:
    """The path stored under `key` as the file system names it (a str that encodes back to the same bytes)."""
    raw = record.get(key + SUFFIX)
    if raw:
        return os.fsdecode(base64.b64decode(raw))
    return record.get(key)
