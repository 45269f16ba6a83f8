"""Write each photo's cluster keywords where photo tools read them, and take back exactly those.

Sidecar mode (`tags`) writes `IMG_0001.JPG.xmp` next to `IMG_0001.JPG`, the name digiKam,
darktable and Immich look for; the photo itself is never opened for writing. Embedded mode
(`tags-embedded`) writes into JPEG files (exiv2 rewrites only their metadata segments) and
falls back to a sidecar for every other format, for RAW files (never written into) and for
files with several hard links (replacing one would split them).

Each file is changed in four durable steps, so a crash at any moment can be undone:
1. the sidecar as it was is copied into the export's state folder (content-addressed);
2. a journal line records the file, its hash before and after, and the keywords added;
3. the new bytes go to a temporary file next to it, are read back and checked;
4. the temporary file replaces the file in one rename.
Files go in batches: the journal lines of a batch are made durable with one fsync before
any of its files is replaced (fsync dominated the time: 3 per file gave 33 photos/s).
`undo` replays the journal backwards: a file still exactly as written gets its old bytes back
(or is removed, when there was none); a file changed since (say, a rating set in digiKam) loses
only the keywords this export added, from each of the three fields, checked by reading it back;
a leftover temporary file is removed. A torn journal line is skipped: everything else is undone,
then undo says what it could not do. Ctrl+C stops between files and says how many were written.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from PIL import Image

from esmc_desktop.errors import Interrupted, TagError, XmpError
from esmc_desktop.files import uninterrupted
from esmc_desktop.photos import journal as journals
from esmc_desktop.photos import names
from esmc_desktop.photos.export_folder import ExportFolder
from esmc_desktop.photos.modes import EXPORTING, TAG_MODES
from esmc_desktop.photos.raw import is_raw
from esmc_desktop.photos.xmp import add_keywords, read_keywords, remove_keywords
from esmc_desktop.progress import Progress, ProgressCallback

EMBEDDABLE = frozenset({".jpg", ".jpeg", ".jpe"})  # exiv2 rewrites only the APP segments; pixels are not re-encoded
_PARTIAL = ".esmc-partial"
BATCH_FILES, BATCH_BYTES = 64, 64 * 2**20  # per journal fsync; the bytes bound holds embedded JPEGs in memory


@dataclass(frozen=True)
class Tagged:
    photo: Path
    target: Path  # the sidecar or, embedded, the photo file that holds the keywords


def sidecar_path(photo: Path | str) -> Path:
    """`IMG_0001.JPG` -> `IMG_0001.JPG.xmp`: one sidecar per file, so a RAW and its JPEG never share one."""
    photo = Path(photo)
    return photo.with_name(photo.name + ".xmp")


def target_for(photo: Path, embedded: bool) -> Path:
    """Where `photo`'s keywords go in this mode."""
    if embedded and photo.suffix.lower() in EMBEDDABLE and not is_raw(photo):
        real = photo.resolve()
        try:
            if real.is_file() and real.stat().st_nlink == 1:
                return real
        except OSError:
            pass
    return sidecar_path(photo)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every system opens folders; the rename itself is atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(target: Path, data: bytes, partial: Path, like: Path | None = None, sync_folder: bool = True) -> None:
    """Put `data` at `target` atomically, after reading it back from the disk.

    Not files.atomic_path: the temporary name must be known before the write, because the
    journal names it so that undo can remove it after a crash.
    """
    partial.unlink(missing_ok=True)
    try:
        with open(partial, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if partial.read_bytes() != data:
            raise OSError(f"{partial} does not read back as written")
        if like is not None:
            shutil.copymode(like, partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if sync_folder:
        _fsync_folder(target.parent)


def _partial_for(target: Path) -> Path:
    return target.with_name(f".{target.name}{_PARTIAL}")


def _same_pixels(photo: Path, before: bytes, after: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(before)) as a, Image.open(io.BytesIO(after)) as b:
            return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise XmpError(f"{photo.name}: can't be decoded to check its pixels ({exc}); it was left as it is") from exc


def _check_embedded(photo: Path, before: bytes, after: bytes, keywords: Mapping[str, list[str]],
                    present: bool) -> None:
    """The rewritten photo decodes to the same pixels and has (or, undoing, lacks) the keywords."""
    if not _same_pixels(photo, before, after):
        raise XmpError(f"{photo.name}: writing the keywords would change its pixels; it was left as it is")
    found = read_keywords(after, photo.name)
    for key, words in keywords.items():
        if any((w in found.get(key, [])) != present for w in words):
            raise XmpError(f"{photo.name}: the keywords did not read back as written; it was left as it is")


@dataclass
class _Change:
    photo: Path
    target: Path
    embedded: bool
    before: bytes | None
    new: bytes
    record: dict


class TagWriter:
    """Tags files in batches into the tag journal of an export folder."""

    def __init__(self, folder: ExportFolder, embedded: bool) -> None:
        # The journal must mean the same files from any working folder.
        self.folder = ExportFolder(folder.path.absolute())
        self.embedded = embedded
        self.backups = self.folder.sidecar_backups
        self.problems: list[str] = []
        self.written = 0  # files whose keywords are on disk

    def __enter__(self) -> "TagWriter":
        self.folder.make_state()
        self.journal = open(self.folder.tags_journal, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self.journal.close()

    def prepare(self, photo: Path, keywords: Mapping[str, list[str]]) -> tuple[Path, _Change | None]:
        """(where `photo`'s keywords go, the change to make there, or None when there is nothing to write).

        A file exiv2 cannot read is left alone and noted in `problems`.
        """
        photo = photo.absolute()
        target = target_for(photo, self.embedded)
        embedded = target != sidecar_path(photo)
        try:
            before = _read(target)
            new, added = add_keywords(before, keywords, target.name)
            if not any(added.values()):
                return target, None
            if embedded:
                _check_embedded(photo, before, new, added, present=True)
        except XmpError as exc:
            self.problems.append(str(exc))
            return target, None
        backup = None
        if before is not None and not embedded:
            backup = self.backups / f"{_sha(before)}.xmp"
            if not backup.is_file():
                self.backups.mkdir(parents=True, exist_ok=True)
                _replace(backup, before, _partial_for(backup))
        record = names.store(names.store({}, "photo", photo), "target", target)
        record.update({"embedded": embedded, "before": None if before is None else _sha(before), "after": _sha(new)})
        names.store(names.store(record, "backup", backup), "partial", _partial_for(target))
        record["added"] = added
        return target, _Change(photo, target, embedded, before, new, record)

    def commit(self, changes: list[_Change]) -> None:
        """Journal the changes durably (one fsync), then make each one (a file nobody changed meanwhile)."""
        if not changes:
            return
        with uninterrupted():  # whole lines only
            for change in changes:
                journals.append(self.journal, change.record, durable=False)
            os.fsync(self.journal.fileno())
        for change in changes:
            if _read(change.target) != change.before:
                self.problems.append(f"{change.target.name} changed while the keywords were being written; "
                                     "it was left as it is")
                continue
            with uninterrupted():  # the file and its count
                _replace(change.target, change.new, Path(names.load(change.record, "partial")),
                         like=change.target if change.embedded else None, sync_folder=False)
                self.written += 1
        for folder in {c.target.parent for c in changes}:
            _fsync_folder(folder)


def tag_files(jobs: Sequence[tuple[Path, Mapping[str, list[str]]]], folder: ExportFolder, embedded: bool,
              progress: ProgressCallback | None = None) -> tuple[list[Tagged], list[str]]:
    """Tag every (photo file, keywords) job: (where each one's keywords are, the files left alone and why)."""
    done: list[Tagged] = []
    with TagWriter(folder, embedded) as writer:
        try:
            batch: list[_Change] = []
            for photo, keywords in jobs:
                target, change = writer.prepare(photo, keywords)
                if change is not None:
                    batch.append(change)
                done.append(Tagged(photo, target))
                if len(batch) >= BATCH_FILES or sum(len(c.new) for c in batch) >= BATCH_BYTES:
                    writer.commit(batch)
                    batch = []
                if progress is not None:
                    progress(Progress(EXPORTING, len(done), len(jobs)))
            writer.commit(batch)
        except KeyboardInterrupt:
            raise Interrupted(f"the tag export stopped after writing keywords into {writer.written} files; "
                              f"`esmc-desktop undo {folder.path}` takes them back") from None
    return done, writer.problems


def describe_problems(problems: list[str], total: int) -> str:
    """One message for the files a tag export left alone."""
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return (f"keywords written for {total - len(problems)} of {total} files. Left alone: {shown}. "
            "Fix or move those files and export again (the others are not written twice).")


def undo_tags(folder: ExportFolder) -> int:
    """Take back every keyword the tag exports into `folder` journaled; returns how many files were changed back.

    Running it again after a failure is safe: a file already back as it was is left alone.
    """
    journal = folder.tags_journal
    if not journal.is_file():
        raise TagError(f"nothing to undo: {journal} does not exist")
    records, torn_lines = journals.read(journal)
    torn: list[str] = []
    changed, problems = 0, []
    try:
        for line in torn_lines:  # the last steps: undone first
            try:
                changed += _undo_torn(line, folder)
            except XmpError as exc:
                torn.append(f"{line.problem}: {exc}")
        for record in reversed(records):
            try:
                changed += _undo_one(record)
            except XmpError as exc:
                problems.append(str(exc))
            except (KeyError, TypeError):
                torn.append(f"{journal.name}: a line names no file, so the step it recorded is unknown")
    except KeyboardInterrupt:
        raise Interrupted(f"undo stopped after taking the keywords back out of {changed} files; run "
                          f"`esmc-desktop undo {folder.path}` again to finish") from None
    if problems:
        raise TagError(f"{len(problems)} files still hold keywords of this export: {'; '.join(problems[:3])}. "
                       "Fix them and run undo again." + (f" Also: {'; '.join(torn)}." if torn else ""))
    shutil.rmtree(folder.sidecar_backups, ignore_errors=True)
    folder.retire(journal)
    if torn:
        raise TagError(f"took the keywords back out of {changed} files, but not everything: {'; '.join(torn)}. "
                       "Look for ESMC keywords left in sidecars written at the moment the export stopped")
    return changed


_GONE = object()


def _undo_torn(line: journals.Torn, folder: ExportFolder) -> int:
    """Undo a torn journal line's step from what survived of it: its file, hashes before and after.

    A sidecar still as written gets its saved copy back (or goes, when we made it); what can't be
    identified this way (the keywords added did not survive) raises XmpError naming the file.
    """
    raw = line.field("target_fs")
    target = names.load({"target_fs": raw}, "target") if raw else line.field("target")
    before, after = line.field("before", _GONE), line.field("after")
    if target is None or before is _GONE or after is None or line.field("embedded") is not False:
        raise XmpError("the file it changed can't be told from what is left of the line")
    target = Path(target)
    _partial_for(target).unlink(missing_ok=True)
    current = _read(target)
    now = None if current is None else _sha(current)
    if now == before or current is None:
        return 0
    if now == after:
        return _undo_one({"target": str(target), "partial": str(_partial_for(target)), "embedded": False,
                          "before": before, "after": after, "added": {},
                          "backup": None if before is None else str(folder.sidecar_backups / f"{before}.xmp")})
    raise XmpError(f"{target.name} changed since, and which keywords this export added there did not survive")


def _holds_any(data: bytes, keywords: Mapping[str, list[str]], name: str) -> bool:
    found = read_keywords(data, name)
    return any(w in found.get(key, []) for key, words in keywords.items() for w in words)


def _undo_one(record: dict) -> int:
    target, partial = Path(names.load(record, "target")), Path(names.load(record, "partial"))
    partial.unlink(missing_ok=True)
    current = _read(target)
    now = None if current is None else _sha(current)
    if now == record["before"] or current is None:
        return 0  # never replaced (the export stopped first), already undone, or deleted since
    if now == record["after"] and not record["embedded"]:
        if record["before"] is None:
            target.unlink()
            return 1
        old = _read(Path(names.load(record, "backup")))
        if old is not None and _sha(old) == record["before"]:
            _replace(target, old, partial)
            return 1
        # the saved copy is gone or damaged: fall through and remove only our keywords
    data, removed = remove_keywords(current, record["added"], target.name)
    if not any(removed.values()):
        return 0
    if record["embedded"]:
        _check_embedded(target, current, data, removed, present=False)
    elif _holds_any(data, removed, target.name):
        raise XmpError(f"{target.name}: the keywords did not come out of it; it was left as it is")
    _replace(target, data, partial, like=target if record["embedded"] else None)
    return 1
