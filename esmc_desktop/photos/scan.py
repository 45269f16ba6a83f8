"""Find the photos under a folder: recursive, symlink-loop safe, duplicates found by content.

Every file that is not used gets a reason (not a photo type, broken link,
unreadable, empty, duplicate of another file), so nothing is skipped silently.
Decoding problems are found later, when a photo is opened.

A camera shooting RAW+JPEG writes IMG_0001.CR2 and IMG_0001.JPG of one moment. Photo tools
show such a pair as one photo, and so does the scan (by default): the JPEG is read, and the
RAW file rides along as its companion wherever the photo is exported or tagged.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from esmc_desktop.errors import FolderError
from esmc_desktop.files import sha256_file as content_hash
from esmc_desktop.photos.raw import RAW_SUFFIXES, is_raw

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                            ".heic", ".heif"}) | RAW_SUFFIXES
PAIRED_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif"})  # what cameras write beside a RAW


@dataclass(frozen=True)
class Photo:
    """One distinct photo (by content); `duplicates` are other paths with the same bytes.

    `companions` are the RAW files of a RAW+JPEG pair whose JPEG this is: not read, but exported
    and tagged with it.
    """

    path: Path
    sha256: str
    size: int
    duplicates: tuple[Path, ...] = ()
    companions: tuple[Photo, ...] = ()


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class ScanResult:
    photos: list[Photo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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


def scan(root: Path | str, pair_raw: bool = True) -> ScanResult:
    """All distinct photo files under `root`, in a stable order, and every file not used with why.

    With `pair_raw`, a RAW file and a JPEG or HEIF of the same name in the same folder are one photo.
    """
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
    if pair_raw:
        result.photos = pair_raw_files(result.photos)
    return result


def pair_raw_files(photos: list[Photo]) -> list[Photo]:
    """The photos with each RAW file that has a JPEG/HEIF of the same stem beside it folded into that photo."""
    readers: dict[tuple[Path, str], Photo] = {}
    for photo in photos:
        if photo.path.suffix.lower() in PAIRED_SUFFIXES:
            readers.setdefault((photo.path.parent, photo.path.stem.casefold()), photo)
    companions: dict[str, list[Photo]] = {}
    kept = []
    for photo in photos:
        reader = readers.get((photo.path.parent, photo.path.stem.casefold())) if is_raw(photo.path) else None
        if reader is None:
            kept.append(photo)
        else:
            companions.setdefault(reader.sha256, []).append(photo)
    return [dataclasses.replace(p, companions=tuple(companions[p.sha256])) if p.sha256 in companions else p
            for p in kept]
