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
  (photos/tags.py); `undo` takes them back too.
- The manifest, the journals and the lock are the export folder's (photos/export_folder/); this module
  decides what goes where and moves the files.
- One run writes into a folder at a time (photos/export_folder/lock.py); a move never takes
  files out of an earlier export (that would empty it and leave the originals).
- Ctrl+C stops between two files (a copy and its journal line are one step) and
  says how many files were placed and how to take them back.
- Paths keep the bytes the file system gave them (photos/names.py); `undo`
  restores all a torn journal still holds, then says what it could not.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple, Sequence

from esmc_desktop.errors import ExportError, Interrupted
from esmc_desktop.files import atomic_path, remove_partials, uninterrupted
from esmc_desktop.photos import journal as journals
from esmc_desktop.photos import names
from esmc_desktop.photos.export_folder import ExportFolder, MoveStep, Placement, numbered, rounded
from esmc_desktop.photos.modes import EXPORTING, MODES
from esmc_desktop.photos.scan import content_hash, display
from esmc_desktop.photos.tags import TAG_MODES, describe_problems, tag_files, target_for, undo_tags
from esmc_desktop.photos.xmp import keywords_for
from esmc_desktop.progress import Progress, ProgressCallback

log = logging.getLogger("esmc_desktop")
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


def _place(src: Path, dst: Path, mode: str) -> None:
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
                                _place(src, dst, "copy" if mode == "move" else mode)
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


def undo_move(out: Path | str) -> int:
    """Put every moved original back (from a verified copy) and remove the copies the move made.

    Returns how many originals were restored. Whatever the journal still holds is restored even
    when part of it is torn or a copy is gone; then ExportError says what could not be restored.
    """
    folder = ExportFolder(out)
    if not folder.is_move_export():
        raise ExportError(f"nothing to undo: {folder.move_journal} does not exist (only a move can be undone)")
    with folder.lock():
        try:
            return _undo_move(folder)
        except KeyboardInterrupt:
            raise Interrupted(f"undo stopped; what it put back stays. Run `esmc-desktop undo {out}` again to "
                              "finish") from None


def _undo_move(folder: ExportFolder) -> int:
    out, journal = folder.path, folder.move_journal
    steps, torn = folder.read_move_journal()
    try:
        placed = folder.read_manifest()  # written before a move removes any original: a second account of it
    except ExportError:
        placed = []
    problems = []
    copies: dict[tuple[str, str], list[Path]] = {}
    for step in steps:
        if step.source is None or step.sha256 is None or step.copy is None:
            problems.append(f"{journal.name}: a line names no source or copy, so the step it recorded is unknown")
            continue
        copies.setdefault((step.source, step.sha256), []).append(Path(step.copy))
    restored, missing = 0, []
    for parent in {Path(source).parent for source, _ in copies}:
        remove_partials(parent, recursive=False)  # a restore that was killed halfway
    for (source, sha), paths in copies.items():
        src = Path(source)
        if not src.exists():
            good = next((c for c in paths if c.is_file() and content_hash(c) == sha), None)
            if good is None:
                missing.append(src)
                continue
            src.parent.mkdir(parents=True, exist_ok=True)
            _place(good, src, "copy")
            restored += 1
        if content_hash(src) == sha:
            for copy in paths:
                if copy.is_file() and content_hash(copy) == sha:
                    copy.unlink()
    for line in torn:
        understood = _salvage(line, folder, missing)
        if understood is None:
            problems.append(line.problem)
        restored += bool(understood)
    restored += _from_manifest(placed, missing)
    if missing:
        shown = ", ".join(display(p) for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3
                                                             else "")
        problems.append(f"no intact copy of {shown} is left to restore from")
    folder.remove_manifest()
    folder.remove_empty_folders()
    if missing:  # kept: once those copies are found and put back, undo runs again
        raise ExportError(_not_restored(restored, problems, out))
    folder.retire(journal)
    if problems:
        left = _stranded(folder, steps, placed)
        if not left:  # every original is in place: what the unreadable lines recorded is undone too
            log.warning("%s; every photo is back all the same (the manifest named the rest)", "; ".join(problems))
            return restored
        problems.append(f"{len(left)} files are still in {out} (e.g. {display(left[0])}): compare them "
                        "with your photos before deleting them")
        raise ExportError(_not_restored(restored, problems, out))
    return restored


def _stranded(folder: ExportFolder, steps: list[MoveStep], placed: list[Placement]) -> list[Path]:
    """Files left in the folder that are no copy of an original in place (by the journal and the manifest)."""
    kept = {r.sha256 for r in placed if Path(r.source).exists()}
    kept |= {s.sha256 for s in steps if Path(s.source or "").exists()}
    return [p for p in folder.tree_files() if content_hash(p) not in kept]


def _salvage(line: journals.Torn, folder: ExportFolder, missing: list[Path]) -> bool | None:
    """Undo the step of a torn journal line whose source and hash survived; the copy is found by its content.

    Returns None when the line can't be understood, else whether an original was restored from it
    (one that can't be, with no copy left, goes to `missing`).
    """
    raw, source, sha = line.field("source_fs"), line.field("source"), line.field("sha256")
    if raw is not None:
        source = names.load({"source_fs": raw}, "source")
    if source is None or sha is None or not re.fullmatch(r"[0-9a-f]{64}", sha):
        return None
    src = Path(source)
    copies = [p for p in folder.tree_files() if not p.is_symlink() and content_hash(p) == sha]
    if not src.exists():
        if not copies:
            missing.append(src)
            return False
        src.parent.mkdir(parents=True, exist_ok=True)
        _place(copies[0], src, "copy")
        restored = True
    else:
        restored = False
    if content_hash(src) == sha:
        for copy in copies:
            copy.unlink()
    return restored


def _from_manifest(rows: list[Placement], missing: list[Path]) -> int:
    """Originals still gone after the journal: restored from the copy the manifest names, when it holds the same
    bytes. Returns how many; those found leave `missing`."""
    restored = 0
    by_source: dict[str, list[Placement]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    for source, mine in by_source.items():
        if Path(source).exists():
            continue
        good = next((Path(r.destination) for r in mine if Path(r.destination).is_file()
                     and content_hash(Path(r.destination)) == r.sha256), None)
        if good is None:
            continue
        Path(source).parent.mkdir(parents=True, exist_ok=True)
        _place(good, Path(source), "copy")
        restored += 1
        for r in mine:
            copy = Path(r.destination)
            if copy.is_file() and content_hash(copy) == r.sha256:
                copy.unlink()
        if Path(source) in missing:
            missing.remove(Path(source))
    return restored


def _not_restored(restored: int, problems: list[str], out: Path) -> str:
    return (f"restored {restored} photos from {out}, but not everything: {'; '.join(problems)}. "
            "Every photo the journal still names was put back")


def undo_export(out: Path | str) -> tuple[int, int]:
    """Undo what exports into `out` did: (photos put back by undoing a move, files whose keywords were taken back)."""
    folder = ExportFolder(out)
    if not folder.is_tag_export() and not folder.is_move_export():
        raise ExportError(f"nothing to undo in {folder.path}: only a move or a tag export can be undone, and it is "
                          "undone once")
    with folder.lock():
        tagged = undo_tags(folder) if folder.is_tag_export() else None
        moved = undo_move(out) if folder.is_move_export() else None
        if tagged is not None:
            folder.remove_manifest()
    return moved or 0, tagged or 0

