"""ExportFolder: the one owner of an export folder's files and their formats.

Every module that reads or writes an export folder goes through here: the manifest (CSV and JSON),
the move journal (photos/export.py) and the tag journal's place (photos/tags.py), result.json and
the heads' places (saved_result.py), the photos the user placed and the learning plan (app/learn.py),
and the lock. The names are in layout.py, the typed records in records.py. Paths keep the bytes the
file system gave them (photos/names.py). The formats are those earlier versions wrote, byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import AbstractContextManager
from dataclasses import fields
from pathlib import Path
from typing import Iterable

from esmc_desktop.errors import EsmcError, ExportError
from esmc_desktop.files import move_aside, write_atomic
from esmc_desktop.photos import journal as journals
from esmc_desktop.photos import names
from esmc_desktop.photos.export_folder.layout import (BACKUPS, MANIFEST_CSV, MANIFEST_JSON, MOVE_JOURNAL, OLD_PENDING_FILE,
                                                      PENDING_FILE, PLACED_FILE, RESULT_FILE, STATE_DIR, TAGS_JOURNAL,
                                                      UNDONE, free_name, head_name, numbered)
from esmc_desktop.photos.export_folder.lock import output_lock
from esmc_desktop.photos.export_folder.records import (LEGACY_TEMPLATE, MoveStep, PendingPlan, Placement,
                                                       SavedCriterion, SavedResult, rounded)

__all__ = ["STATE_DIR", "ExportFolder", "MoveJournal", "MoveStep", "PendingPlan", "Placement", "SavedCriterion",
           "SavedResult", "free_name", "numbered", "output_lock", "rounded"]

_PATHS = ("source", "destination")  # the manifest's path fields


class MoveJournal:
    """A move export's journal, open for appending: one durable line per copy, before the next step needs it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def add(self, source: Path, sha: str, copy: Path) -> None:
        record = names.store({}, "source", source)
        record["sha256"] = sha
        journals.append(self._file, names.store(record, "copy", copy))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "MoveJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ExportFolder:
    """OUT: the cluster folders (or the tagged photos), the manifests, and the state folder OUT/.esmc."""

    def __init__(self, out: Path | str) -> None:
        self.path = Path(out)
        self.state = self.path / STATE_DIR

    def lock(self) -> AbstractContextManager[None]:
        """Hold the folder for this process while a run writes there (photos/export_folder/lock.py)."""
        return output_lock(self.path)

    def make_state(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)

    # The manifest: what the exports into the folder put where.

    def has_manifest(self) -> bool:
        return (self.path / MANIFEST_JSON).is_file()

    def read_manifest(self) -> list[Placement]:
        """The placements of the last export into the folder, as `write_manifest` wrote them."""
        path = self.path / MANIFEST_JSON
        if not path.is_file():
            raise ExportError(f"{self.path} holds no export ({path.name} is missing); export into it first")
        try:
            return [_placement(row) for row in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, TypeError, KeyError) as exc:
            raise ExportError(f"{path} is damaged ({exc})") from exc

    def earlier_places(self) -> dict[Path, str]:
        """Destination -> content hash, as the manifest of an earlier export has them (empty: none)."""
        try:
            return {Path(r.destination): r.sha256 for r in self.read_manifest()}
        except ExportError:
            return {}

    def write_manifest(self, placements: list[Placement], *, add: bool = False) -> None:
        """Write the manifests (CSV and JSON) with `placements`; with `add`, after the earlier rows none replaces.

        A photo (content hash) exported again under the same criterion replaces its earlier row: it is one photo,
        and `learn` reads each photo's place once.
        """
        if add and self.has_manifest():
            new = {(p.criterion, p.sha256) for p in placements}
            placements = [p for p in self.read_manifest() if (p.criterion, p.sha256) not in new] + placements
        columns = [*Placement.__dataclass_fields__, *(k + names.SUFFIX for k in _PATHS)]
        rows = [_row(p) for p in placements]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        write_atomic(self.path / MANIFEST_CSV, buffer.getvalue(), only_if_changed=True)
        write_atomic(self.path / MANIFEST_JSON, json.dumps(rows, indent=2), only_if_changed=True)

    def remove_manifest(self) -> None:
        for name in (MANIFEST_CSV, MANIFEST_JSON):
            (self.path / name).unlink(missing_ok=True)

    # The tree the exports wrote: everything outside the state folder.

    def tree_files(self) -> list[Path]:
        """Every file in the folder but the state folder's: the exported photos, and whatever else is there."""
        return [p for p in self.path.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(self.path).parts]

    def remove_empty_folders(self) -> None:
        """Remove the folders left empty outside the state folder, the deepest first."""
        for folder in sorted((p for p in self.path.rglob("*") if p.is_dir() and STATE_DIR not in p.parts),
                             key=lambda p: len(p.parts), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()

    # The journals an undo replays.

    @property
    def move_journal(self) -> Path:
        return self.state / MOVE_JOURNAL

    @property
    def tags_journal(self) -> Path:
        return self.state / TAGS_JOURNAL

    def is_move_export(self) -> bool:
        """A move export not yet undone: its journal is there."""
        return self.move_journal.is_file()

    def is_tag_export(self) -> bool:
        """A tag export not yet undone: its journal is there."""
        return self.tags_journal.is_file()

    def open_move_journal(self) -> MoveJournal:
        return MoveJournal(self.move_journal)

    def journal_moves(self, rows: Iterable[tuple[str | Path, str, Path]]) -> None:
        """Record where a move export's photos are now (source, sha, path): `undo` then finds them there."""
        with self.open_move_journal() as journal:
            for source, sha, path in rows:
                journal.add(Path(source), sha, path)

    def read_move_journal(self) -> tuple[list[MoveStep], list[journals.Torn]]:
        """(the steps that read back whole, the lines that did not)."""
        records, torn = journals.read(self.move_journal)
        return [MoveStep(names.load(r, "source"), r.get("sha256"), names.load(r, "copy")) for r in records], torn

    @property
    def sidecar_backups(self) -> Path:
        return self.state / BACKUPS

    def retire(self, journal: Path) -> None:
        """`journal` is undone: it is kept under another name, and undo finds nothing more to do."""
        journal.replace(journal.with_suffix(UNDONE))

    # The saved result: result.json and one ONNX head per criterion beside it.

    def head_path(self, index: int) -> Path:
        return self.state / head_name(index)

    def read_result(self) -> SavedResult:
        path = self.state / RESULT_FILE
        if not path.is_file():
            raise EsmcError(f"{self.path} holds no saved clustering ({path} is missing); "
                            "run `esmc-desktop cluster` first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            criteria = [SavedCriterion(c["text"], c["prompt"], int(c["layer"]), int(c["position"]),
                                       list(c["names"]), path.parent / c["head"], list(c.get("values", [])))
                        for c in data["criteria"]]
            return SavedResult(Path(data["lm"]), Path(data["mmproj"]), data["model_fingerprint"],
                               int(data["lens_top_k"]), bool(data["lens_final_norm"]), criteria,
                               data.get("template", LEGACY_TEMPLATE))
        except (ValueError, KeyError, TypeError) as exc:
            raise EsmcError(f"{path} is damaged ({exc})") from exc

    def write_result(self, saved: SavedResult) -> Path:
        """Write result.json (its heads are written beside it, at `head_path`); returns its path."""
        criteria = [{"text": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
                     "names": list(c.names), "head": c.head.name, "values": list(c.values)} for c in saved.criteria]
        data = {"lm": str(saved.lm), "mmproj": str(saved.mmproj), "model_fingerprint": saved.model_fingerprint,
                "lens_top_k": saved.lens_top_k, "lens_final_norm": saved.lens_final_norm,
                "template": saved.template, "criteria": criteria}
        self.make_state()
        path = self.state / RESULT_FILE
        write_atomic(path, json.dumps(data, indent=2))
        return path

    def update_result(self, index: int, cluster_names: list[str], values: list[str] | None = None) -> None:
        """Replace criterion `index`'s cluster names and (None: keep them) its values in result.json; the rest of
        the file stays as it is."""
        path = self.state / RESULT_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        data["criteria"][index]["names"] = list(cluster_names)
        if values is not None:
            data["criteria"][index]["values"] = list(values)
        write_atomic(path, json.dumps(data, indent=2))

    # What `learn` keeps between runs.

    def read_placed(self) -> dict[str, list[str]]:
        """Per criterion, the content hashes of the photos the user placed by hand (empty: none yet)."""
        path = self.state / PLACED_FILE
        if not path.is_file():
            return {}
        try:
            return {k: list(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (ValueError, AttributeError) as exc:
            raise EsmcError(f"{path} is damaged ({exc}); remove it to forget which photos you placed") from exc

    def write_placed(self, placed: dict[str, list[str]]) -> None:
        write_atomic(self.state / PLACED_FILE, json.dumps(placed, indent=2))

    def write_pending(self, moves: Iterable[tuple[Path, Path, str]], criteria: list[str]) -> None:
        """Journal planned re-sorts (from, to, content hash), one durable line each, after their criteria folders."""
        with open(self.state / PENDING_FILE, "w", encoding="utf-8") as plan:
            journals.append(plan, {"criteria": criteria})
            for src, dst, sha in moves:
                journals.append(plan, names.store(names.store({"sha256": sha}, "from", src), "to", dst))

    def read_pending(self) -> PendingPlan | None:
        """The re-sorts an interrupted `learn` journaled (or an earlier version's plan); None when there are none.

        An earlier version's plan that can't be read is moved aside, and EsmcError says what to do.
        """
        path, old = self.state / PENDING_FILE, self.state / OLD_PENDING_FILE
        if not path.is_file() and old.is_file():
            path = old
        if not path.is_file():
            return None
        if path.name == OLD_PENDING_FILE:
            try:
                pending = json.loads(path.read_text(encoding="utf-8"))
                return PendingPlan(path, [(Path(a), Path(b), "") for a, b in pending["moves"]],
                                   [str(c) for c in pending["criteria"]], [])
            except (ValueError, KeyError, TypeError) as exc:
                aside = move_aside(path, f"is damaged ({type(exc).__name__})")
                raise EsmcError(f"the re-sorts an interrupted `learn` planned can't be read ({path.name} is damaged; "
                                f"kept as {aside.name}), so some photos may not be in the folders the manifest "
                                "names. Nothing was moved; put them where the manifest says, then run learn "
                                "again") from exc
        records, torn = journals.read(path)
        moves, criteria = [], []
        for record in records:
            if "criteria" in record:
                criteria += [str(c) for c in record["criteria"]]
                continue
            src, dst = names.load(record, "from"), names.load(record, "to")
            if src is None or dst is None:
                torn.append(journals.Torn(f"{path.name}: a line names no file, so the re-sort it recorded is "
                                          "unknown", json.dumps(record)))
                continue
            moves.append((Path(src), Path(dst), str(record.get("sha256", ""))))
        return PendingPlan(path, moves, criteria, torn)


def _row(p: Placement) -> dict:
    """A manifest row: the paths readable, plus their exact bytes where the text would lose them (names.py)."""
    row = {f.name: getattr(p, f.name) for f in fields(Placement)}  # asdict would deep-copy every value
    for key in _PATHS:
        names.store(row, key, row[key])
    return row


def _placement(row: dict) -> Placement:
    return Placement(**{**{k: row[k] for k in Placement.__dataclass_fields__},
                        **{k: names.load(row, k) for k in _PATHS}})
