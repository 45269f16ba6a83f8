"""Find the photos under a folder: recursive, symlink-loop safe, duplicates found by content.

Every file that is not used gets a reason (not a photo type, broken link,
unreadable, empty, duplicate of another file), so nothing is skipped silently.
Decoding problems are found later, when a photo is opened.

A camera shooting RAW+JPEG writes IMG_0001.CR2 and IMG_0001.JPG of one moment. Photo tools
show such a pair as one photo, and so does the scan (by default): the JPEG is read, and the
RAW file rides along as its companion wherever the photo is exported or tagged.

The app's own output never becomes input: a folder holding an ESMC export or tag journal (its
`.esmc` folder) and the output folder of the run are passed over, each said in one line, and
an XMP sidecar beside a photo (IMG_1.JPG.xmp, IMG_1.xmp) is part of that photo, not a skipped
file. `--exclude` patterns (ScanRules) leave out more.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from esmc_desktop.errors import FolderError
from esmc_desktop.files import sha256_file as content_hash
from esmc_desktop.photos.export_folder.layout import STATE_DIR  # what marks an ESMC export
from esmc_desktop.photos.raw import RAW_SUFFIXES, is_raw

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                            ".heic", ".heif"}) | RAW_SUFFIXES
PAIRED_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif"})  # what cameras write beside a RAW
SIDECAR = ".xmp"


@dataclass(frozen=True)
class ScanRules:
    """What a scan passes over besides ESMC's own exports.

    `exclude`: glob patterns matched against a file's or folder's name and its path under the
    photo folder ('Private', '*.gif', '2019/raw/*'). `pass_over`: folders whose files are not
    photos to sort (the run's output folder).
    """

    exclude: tuple[str, ...] = ()
    pass_over: tuple[Path, ...] = ()

    def excluded_by(self, path: Path, root: Path) -> str | None:
        """The pattern that excludes `path`, if any."""
        rel = path.relative_to(root).as_posix()
        return next((p for p in self.exclude if fnmatch.fnmatch(path.name, p) or fnmatch.fnmatch(rel, p)
                     or fnmatch.fnmatch(rel, p.rstrip("/"))), None)


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


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _passed_over(folder: Path, root: Path, rules: ScanRules, outputs: set[tuple[int, int]]) -> str | None:
    """Why a subfolder's files are not sorted, or None."""
    if folder.name == STATE_DIR:
        return ""  # ESMC's own bookkeeping: not said, it holds no photo of the user's
    if _identity(folder) in outputs:
        return "the output folder of this run; its files are not sorted again"
    if (folder / STATE_DIR).is_dir():
        return f"an ESMC export or tag journal (it holds {STATE_DIR}); its files are not sorted again"
    pattern = rules.excluded_by(folder, root)
    if pattern is not None:
        return f"excluded (--exclude {pattern})"
    return None


def _walk(root: Path, result: ScanResult, rules: ScanRules, stop: threading.Event | None) -> Iterator[Path]:
    seen_dirs: set[tuple[int, int]] = set()
    outputs = {i for i in map(_identity, rules.pass_over) if i is not None}
    stack = [root]
    while stack:
        if stop is not None and stop.is_set():
            return
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
                    why = _passed_over(path, root, rules, outputs)
                    if why:
                        result.skipped.append(Skipped(path, why))
                    elif why is None:
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


def scan(root: Path | str, pair_raw: bool = True, rules: ScanRules = ScanRules(),
         stop: threading.Event | None = None) -> ScanResult:
    """All distinct photo files under `root`, in a stable order, and every file not used with why.

    With `pair_raw`, a RAW file and a JPEG or HEIF of the same name in the same folder are one photo.
    `stop`, once set, ends the scan at the next file (the run it was for is over).
    """
    root = Path(root)
    result = ScanResult()
    if not root.is_dir():
        raise FolderError(f"{root} is not a folder; give the folder that holds your photos")
    by_hash: dict[str, list[Path]] = {}
    sizes: dict[str, int] = {}
    sidecars: list[Path] = []
    stems: set[tuple[Path, str]] = set()  # (folder, name) and (folder, stem) of every file seen
    for path in _walk(root, result, rules, stop):
        if stop is not None and stop.is_set():
            break
        if path.suffix.lower() != SIDECAR:
            stems.update({(path.parent, path.name.casefold()), (path.parent, path.stem.casefold())})
        pattern = rules.excluded_by(path, root) if rules.exclude else None
        if pattern is not None:
            result.skipped.append(Skipped(path, f"excluded (--exclude {pattern})"))
            continue
        if path.suffix.lower() == SIDECAR:
            sidecars.append(path)
            continue
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
    for sidecar in sidecars:  # IMG_1.JPG.xmp or IMG_1.xmp beside IMG_1.JPG: metadata of a photo, not a file skipped
        if (sidecar.parent, sidecar.stem.casefold()) not in stems:
            result.skipped.append(Skipped(sidecar, "an XMP sidecar with no photo beside it"))
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
