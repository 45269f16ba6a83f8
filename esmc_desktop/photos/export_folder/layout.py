"""What an export folder holds, by name: the one place its file names are spelt.

OUT/manifest.csv and OUT/manifest.json list what went where; OUT/.esmc/ (the state folder, which
also marks a folder as an ESMC export) holds the journals, the saved result and its heads, the
photos the user placed, the learning plan and the lock.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterator

STATE_DIR = ".esmc"
MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
MOVE_JOURNAL = "move-journal.jsonl"  # a move export's copies (photos/export.py), replayed by undo
TAGS_JOURNAL = "tags-journal.jsonl"  # a tag export's changed files (photos/tags.py), replayed by undo
BACKUPS = "sidecar-backups"  # the sidecars a tag export changed, as they were (content-addressed)
RESULT_FILE = "result.json"  # the clustering `assign` and `learn` continue (saved_result.py)
PLACED_FILE = "placed.json"  # per criterion, the photos the user placed by hand (learn)
PENDING_FILE = "learn-pending.jsonl"  # the re-sorts a `learn` planned, journaled before it commits
OLD_PENDING_FILE = "learn-pending.json"  # written by earlier versions: one JSON object
LOCK = "lock"  # the process id of the run writing into the folder (lock.py)
UNDONE = ".undone"  # the suffix a journal takes once undo has replayed it


def head_name(index: int) -> str:
    """The file of criterion `index`'s ONNX head (0-based) in the state folder."""
    return f"criterion-{index + 1}.onnx"


def numbered(folder: Path, name: str, start: int = 1) -> Iterator[tuple[int, Path]]:
    """(n, path) for `name`, 'stem (2).ext', 'stem (3).ext'... from the n-th on: the names a photo tries in turn,
    so that nothing is ever written over another file."""
    stem, suffix = os.path.splitext(name)
    for n in itertools.count(start):
        yield n, folder / (name if n == 1 else f"{stem} ({n}){suffix}")


def free_name(folder: Path, name: str, taken: set[Path]) -> Path:
    """Where a photo named `name` can go in `folder`: the first free name, none of `taken` (planned)."""
    return next(candidate for _, candidate in numbered(folder, name)
                if candidate not in taken and not candidate.exists() and not candidate.is_symlink())
