"""Find the photos under a folder: recursive, symlink-loop safe, duplicates found by content.

Every file that is not used gets a reason (not a photo type, broken link,
unreadable, empty, duplicate of another file), so nothing is skipped silently.
Decoding problems are found later, when a photo is opened.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from esmc_desktop.errors import FolderError

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                            ".heic", ".heif"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Photo:
    """One distinct photo (by content); `duplicates` are other paths with the same bytes."""

    path: Path
    sha256: str
    size: int
    duplicates: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class ScanResult:
    photos: list[Photo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def display(path: Path) -> str:
    """A printable form of a path, even when its name is not valid UTF-8."""
    return os.fsdecode(os.fsencode(path)).encode("utf-8", "backslashreplace").decode("utf-8")


def _walk(root: Path, result: ScanResult):
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as exc:
            result.skipped.append(Skipped(folder, f"folder can't be read ({exc.strerror})"))
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            result.skipped.append(Skipped(folder, "folder already scanned (symlink loop or repeated link)"))
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            result.skipped.append(Skipped(folder, f"folder can't be read ({exc.strerror})"))
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(path)
                    continue
                if entry.is_symlink() and not path.exists():
                    result.skipped.append(Skipped(path, "broken symbolic link"))
                    continue
            except OSError as exc:
                result.skipped.append(Skipped(path, f"can't be inspected ({exc.strerror})"))
                continue
            yield path
        stack.extend(reversed(subfolders))


def scan(root: Path | str) -> ScanResult:
    """All distinct photo files under `root`, in a stable order, and every file not used with why."""
    root = Path(root)
    result = ScanResult()
    if not root.is_dir():
        raise FolderError(f"{root} is not a folder; give the folder that holds your photos")
    by_hash: dict[str, list[Path]] = {}
    sizes: dict[str, int] = {}
    for path in _walk(root, result):
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            result.skipped.append(Skipped(path, f"not a photo type ({path.suffix or 'no extension'})"))
            continue
        try:
            size = path.stat().st_size
            if size == 0:
                result.skipped.append(Skipped(path, "empty file (0 bytes)"))
                continue
            digest = content_hash(path)
        except OSError as exc:
            result.skipped.append(Skipped(path, f"can't be read ({exc.strerror})"))
            continue
        by_hash.setdefault(digest, []).append(path)
        sizes[digest] = size
    for digest, paths in by_hash.items():
        result.photos.append(Photo(paths[0], digest, sizes[digest], tuple(paths[1:])))
        for dup in paths[1:]:
            result.skipped.append(Skipped(dup, f"same content as {display(paths[0])} (processed once)"))
    return result
