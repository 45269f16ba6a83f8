"""Write clusters out as folders: OUT/<criterion>/<cluster name>/<photo>, safely.

- Copy by default; hardlink, symlink or move on request.
- Never overwrite: a name taken by different content gets " (2)", " (3)"...;
  a file already there with the same content is left as is, so exporting
  twice changes nothing.
- Names are made safe on every OS (no separators, no traversal, no reserved
  or empty names, bounded length).
- Every file appears atomically (temporary name, then rename).
- A move journals each copy as it is made (durably), verifies all copies of a
  photo by content hash, and only then removes the original; `undo` replays
  the journal, so every original comes back and every copy the move made goes
  away, even after a crash midway.
- The manifest (CSV and JSON) lists source, content hash, criterion, cluster
  id, cluster name, confidence (empty where the head gives none) and where the
  file went.
- Re-sorting an export (learning from corrections) moves the exported files
  between cluster folders, never over another file, and in a move export
  journals each new place first, so `undo` still finds every photo.
- The RAW file of a RAW+JPEG pair goes wherever its JPEG goes.
- Modes `tags` and `tags-embedded` write keywords instead of folders
  (photos/tags.py); `undo` takes them back too (photos/undo.py undoes a move and a tag export).
- The manifest, the journals and the lock are the export folder's (photos/export_folder/); this module
  decides what goes where and moves the files.
- One run writes into a folder at a time (photos/export_folder/lock.py); a move never takes
  files out of an earlier export (that would empty it and leave the originals).
- Ctrl+C stops between two files (a copy and its journal line are one step) and
  says how many files were placed and how to take them back.
- Paths keep the bytes the file system gave them (photos/names.py).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple, Sequence

from esmc_desktop.errors import ExportError, Interrupted
from esmc_desktop.files import atomic_path, uninterrupted
from esmc_desktop.photos.export_folder import ExportFolder, Placement, numbered, rounded
from esmc_desktop.photos.modes import EXPORTING, MODES
from esmc_desktop.photos.scan import content_hash
from esmc_desktop.photos.tags import TAG_MODES, describe_problems, tag_files, target_for
from esmc_desktop.photos.xmp import keywords_for
from esmc_desktop.progress import Progress, ProgressCallback

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_MAX_NAME_BYTES = 120


def safe_name(name: str, fallback: str = "unnamed") -> str:
    """A file or folder name that is valid and harmless on Windows, macOS and Linux."""
    name = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]', "_", name).strip().rstrip(". ")
    name = re.sub(r"\s+", " ", name)
    if name in ("", ".", ".."):
        name = fallback
    if name.split(".")[0].lower() in _RESERVED:
        name = "_" + name
    while len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        name = name[:-1]
    return name


def _safe_file_name(path: Path) -> str:
    raw = os.fsdecode(os.fsencode(path.name)).encode("utf-8", "replace").decode("utf-8")
    stem, suffix = os.path.splitext(raw)
    return safe_name(stem, "photo") + safe_name(suffix, "")[:16]


class _Destinations:
    """Where each photo goes in its cluster folder: the first of name, 'stem (2)'... that is free or holds the
    same content (so exporting twice changes nothing).

    One export run lists each folder once and hashes each file already there at most once; per name it
    remembers which numbers are taken by other content, so a name shared by many photos (IMG_0001.jpg
    from several cards) costs no file reads and no re-probing of the numbers already known taken.
    """

    def __init__(self, known: dict[Path, str] | None = None) -> None:
        """`known`: what an earlier export into the same folder says it put where (its manifest)."""
        self._names: dict[Path, set[str]] = {}  # folder -> every name in it (files, folders, links)
        self._hashes: dict[Path, str | None] = {}  # content hash of a file there (None: no readable file)
        self._known = known or {}
        self._first_open: dict[tuple[Path, str], int] = {}  # (folder, name) -> lowest number not known taken
        self._holding: dict[tuple[Path, str], dict[str, Path]] = {}  # (folder, name) -> content -> its candidate

    def find(self, folder: Path, name: str, sha: str) -> tuple[Path, bool]:
        """(path, already_there) for a photo with content `sha` named `name`."""
        key = (folder, name)
        holding = self._holding.setdefault(key, {})
        if sha in holding:
            if self._hash(holding[sha]) == sha:
                return holding[sha], True
            del holding[sha]  # the manifest named it, but the file there now holds other bytes
        names = self._listed(folder)
        for n, candidate in numbered(folder, name, self._first_open.get(key, 1)):
            self._first_open[key] = n
            if candidate.name not in names:
                if not candidate.exists() and not candidate.is_symlink():  # a case-insensitive disk may say otherwise
                    return candidate, False
                names.add(candidate.name)
            known = self._known.get(candidate)
            if candidate not in self._hashes and known is not None and known != sha:
                holding.setdefault(known, candidate)  # the earlier export put another photo there: taken, not read
                continue
            there = self._hash(candidate)
            if there is not None:
                holding.setdefault(there, candidate)
            if there == sha:
                return candidate, True

    def placed(self, path: Path, sha: str) -> None:
        """A file with content `sha` is now at `path` (this run put it there)."""
        self._listed(path.parent).add(path.name)
        self._hashes[path] = sha

    def _listed(self, folder: Path) -> set[str]:
        if folder not in self._names:
            self._names[folder] = set(os.listdir(folder)) if folder.is_dir() else set()
        return self._names[folder]

    def _hash(self, path: Path) -> str | None:
        if path not in self._hashes:
            try:
                self._hashes[path] = content_hash(path) if path.is_file() else None
            except OSError:
                self._hashes[path] = None
        return self._hashes[path]


def place(src: Path, dst: Path, mode: str) -> None:
    """Create dst from src atomically; never replaces an existing dst. Copies are on disk before the rename.

    A link writes no data of its own (its bytes are the original's), so it is not synced file by file.
    """
    with atomic_path(dst, overwrite=False, durable=mode == "copy") as tmp:
        if mode == "hardlink":
            os.link(src, tmp)
        elif mode == "symlink":
            os.symlink(src.resolve(), tmp)
        else:
            shutil.copy2(src, tmp)


class Source(NamedTuple):
    """A photo as export takes it: its file, content hash, and the other files that are the same photo."""

    path: Path
    sha256: str
    companions: tuple[tuple[Path, str], ...] = ()  # the RAW of a RAW+JPEG pair: (path, content hash)
    duplicates: tuple[Path, ...] = ()  # other paths with the same bytes (tagged too; copied once)

    def files(self) -> list[tuple[Path, str]]:
        """(path, hash) of the photo's own file and its companions: what a copy or move places."""
        return [(self.path, self.sha256), *self.companions]


def sources(photos) -> list[Source]:
    """A Source for each scanned Photo: what plan and export take."""
    return [Source(p.path, p.sha256, tuple((c.path, c.sha256) for c in p.companions), p.duplicates)
            for p in photos]


class ExportRow(NamedTuple):
    """One photo in one criterion's cluster: what export places (or tags) and the manifest lists.

    Each row names its photo, so nothing is matched by position between a list of photos and a list of clusters.
    """

    photo: Source
    criterion: str
    cluster: int
    name: str  # the cluster's name: its folder, or its keyword
    confidence: float | None  # NaN or None where the head gives none


def _photos(rows: Sequence[ExportRow]) -> list[Source]:
    """The photos the rows name, each once, in the order they first appear."""
    return list(dict.fromkeys(r.photo for r in rows))


def plan(rows: Sequence[ExportRow], out: Path) -> list[tuple[ExportRow, Path]]:
    """Each row with the cluster folder it goes to: OUT/<criterion>/<cluster name>.

    Criteria whose safe names collide get " (2)", " (3)"... (by how many criteria came before), in the order the
    rows first name them.
    """
    folders: dict[str, Path] = {}
    used: dict[str, str] = {}
    planned = []
    for row in rows:
        if row.criterion not in folders:
            folder = safe_name(row.criterion, "criterion")
            if folder.lower() in used and used[folder.lower()] != row.criterion:
                folder = f"{folder} ({len(used) + 1})"
            used[folder.lower()] = row.criterion
            folders[row.criterion] = out / folder
        planned.append((row, folders[row.criterion] / safe_name(row.name, f"cluster {row.cluster + 1}")))
    return planned


def export(rows: Sequence[ExportRow], out: Path | str, mode: str = "copy", dry_run: bool = False,
           progress: ProgressCallback | None = None, add: bool = False) -> list[Placement]:
    """Export every row's photo into its criterion's cluster folder, or tag it; returns what went where.

    The manifest lists the placements in the rows' order (a tag export: photo by photo, in the order the rows
    first name them). `progress` gets Progress("exporting", done, total) after each file placed or tagged.
    `add`: the photos join an earlier export into `out` (`assign`), so its manifest keeps the earlier photos;
    otherwise the manifest is this export's alone.
    """
    if mode not in MODES:
        raise ExportError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    out = Path(out)
    if mode == "move":
        refuse_moving_exports([f for p in _photos(rows) for f, _ in p.files()], out)
    if dry_run:
        return _export(rows, ExportFolder(out), mode, True, progress, add)
    folder = ExportFolder(out)
    with folder.lock():
        return _export(rows, folder, mode, False, progress, add)


def _export(rows: Sequence[ExportRow], into: ExportFolder, mode: str, dry_run: bool,
            progress: ProgressCallback | None, add: bool) -> list[Placement]:
    out = into.path
    if mode in TAG_MODES:
        return _export_tags(rows, into, mode == "tags-embedded", dry_run, progress, add)
    planned = plan(rows, out)
    total = sum(len(row.photo.files()) for row, _ in planned)
    placements: list[Placement] = []
    by_source: dict[Path, list[Path]] = {}
    removed: list[Path] = []
    destinations = _Destinations(into.earlier_places() if not dry_run else None)
    try:
        journal = None
        if not dry_run:
            into.make_state()
            if mode == "move":
                journal = into.open_move_journal()
        try:
            for row, folder in planned:
                for src, sha in row.photo.files():
                    if dry_run:
                        dst = folder / _safe_file_name(src)
                    else:
                        folder.mkdir(parents=True, exist_ok=True)
                        with uninterrupted():  # the copy, its journal line and its count: all or none
                            dst, there = destinations.find(folder, _safe_file_name(src), sha)
                            if not there:
                                place(src, dst, "copy" if mode == "move" else mode)
                                destinations.placed(dst, sha)
                            if journal is not None:
                                journal.add(src, sha, dst)
                            by_source.setdefault(src, []).append(dst)
                    placements.append(Placement(str(src), sha, row.criterion, row.cluster, row.name,
                                                rounded(row.confidence), str(dst)))
                    if progress is not None:
                        progress(Progress(EXPORTING, len(placements), total))
            if not dry_run:
                into.write_manifest(placements, add=add)
            if journal is not None:
                _remove_originals([f for p in _photos(rows) for f in p.files()], by_source, removed)
        finally:
            if journal is not None:
                journal.close()
    except OSError as exc:
        raise ExportError(f"export stopped: {exc.strerror or exc} ({exc.filename or out}). "
                          "No original photo was removed or changed.") from exc
    except KeyboardInterrupt:
        if dry_run:
            raise
        raise Interrupted(_stopped(out, mode, sum(map(len, by_source.values())), len(removed))) from None
    return placements


def _stopped(out: Path, mode: str, files: int, removed: int) -> str:
    """What an interrupted export left, and how to take it back."""
    if mode == "move":
        return (f"the move stopped after placing {files} files in {out} ({removed} originals removed, the others "
                f"untouched); `esmc-desktop undo {out}` takes them back")
    return (f"the export stopped after placing {files} files in {out}; no original was changed. Run it again "
            f"to finish (files already there are not written twice), or delete {out} to take them back")


def earlier_export(path: Path, out: Path) -> Path | None:
    """The folder of an earlier ESMC export (or tag journal) that holds `path`, if any; `out` itself does not count."""
    out = out.absolute()
    for folder in Path(path).absolute().parents:
        if folder != out and ExportFolder(folder).state.is_dir():
            return folder
    return None


def refuse_moving_exports(files: Sequence[Path], out: Path) -> None:
    """A move must not take files out of an earlier export: it would empty it and leave the originals elsewhere."""
    seen: dict[Path, Path | None] = {}
    for path in files:
        parent = Path(path).parent
        if parent not in seen:
            seen[parent] = earlier_export(path, Path(out))
        if seen[parent] is not None:
            raise ExportError(f"{path} is in the earlier export {seen[parent]}; a move would take it out of that "
                              "export and leave its original where it is. Sort the original photos instead, or "
                              "export with --mode copy")


def relocate(path: Path, dst: Path) -> None:
    """Move an exported file to `dst` in another cluster folder of the same export, never over a file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        raise ExportError(f"{dst} appeared while re-sorting; not replaced")
    os.rename(path, dst)


def _export_tags(rows: Sequence[ExportRow], into: ExportFolder, embedded: bool, dry_run: bool,
                 progress: ProgressCallback | None, add: bool) -> list[Placement]:
    """Keywords for every criterion into each file of each photo (its RAW companion and identical copies too).

    The rows are grouped by the photo they name: one write per file, with all its criteria.
    """
    out = into.path
    per_photo: dict[Source, list[ExportRow]] = {}
    for row in rows:
        per_photo.setdefault(row.photo, []).append(row)
    jobs, files = [], []
    for photo, chosen in per_photo.items():
        keywords = keywords_for([(r.criterion, r.name) for r in chosen])
        for path, sha in [*photo.files(), *((d, photo.sha256) for d in photo.duplicates)]:
            jobs.append((path, keywords))
            files.append((path, sha, chosen))
    problems: list[str] = []
    if dry_run:
        targets = [target_for(path, embedded) for path, _ in jobs]
    else:
        try:
            tagged, problems = tag_files(jobs, into, embedded, progress)
            targets = [t.target for t in tagged]
        except OSError as exc:
            raise ExportError(f"tagging stopped: {exc.strerror or exc} ({exc.filename or out}). Every file written "
                              f"so far is journaled: `esmc-desktop undo {out}` takes the keywords back.") from exc
    placements = [Placement(str(path), sha, r.criterion, r.cluster, r.name, rounded(r.confidence), str(target))
                  for (path, sha, chosen), target in zip(files, targets) for r in chosen]
    if not dry_run:
        into.write_manifest(placements, add=add)
    if problems:
        raise ExportError(describe_problems(problems, len(jobs)))
    return placements


def _remove_originals(photos: list[tuple[Path, str]], copies: dict[Path, list[Path]], removed: list[Path]) -> None:
    """Remove each original only after every copy of it (already journaled) is verified."""
    for src, sha in photos:
        dsts = copies.get(src, [])
        if not dsts or not src.exists():
            continue
        for dst in dsts:
            if content_hash(dst) != sha:
                raise ExportError(f"copy {dst} does not match {src}; the original was kept")
        with uninterrupted():
            os.unlink(src)
            removed.append(src)
