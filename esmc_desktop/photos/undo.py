"""Undo an export: put every moved original back, take back the keywords a tag export wrote.

A move is undone from its journal (each copy was journaled, durably, before any original was removed),
with the manifest as a second account; whatever a torn journal still holds is restored, then the rest
is said in words. The files undo puts back are placed as export places them (atomically, never over a file).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from esmc_desktop.errors import ExportError, Interrupted
from esmc_desktop.files import remove_partials
from esmc_desktop.photos import journal as journals
from esmc_desktop.photos import names
from esmc_desktop.photos.export import place
from esmc_desktop.photos.export_folder import ExportFolder, MoveStep, Placement
from esmc_desktop.photos.scan import content_hash, display
from esmc_desktop.photos.tags import undo_tags

log = logging.getLogger("esmc_desktop")


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
            place(good, src, "copy")
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
        place(copies[0], src, "copy")
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
        place(good, Path(source), "copy")
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

