"""Learning from corrections made in a file manager: `esmc-desktop learn OUT` (learn_export).

(The window learns from the photos moved by hand in its SortResult: app/corrections.py.)

The user moved photos between the cluster folders of an export, renamed folders, made new
ones. This reads the manifest and the tree as it is now, and per criterion:

- a photo found in another cluster folder than the manifest says is a correction; so is every
  photo an earlier `learn` recorded as placed by the user (OUT/.esmc/placed.json), wherever it is now;
- a folder the manifest does not know is a renamed cluster when most of its photos come from a
  cluster whose folder is gone, otherwise a new cluster (K grows); a cluster left with no photo
  is removed, with its folder when empty;
- the criterion's head is retrained on the cached lens vectors (method.learn) and every photo
  the user did not touch goes to its new cluster's folder: the exported file is moved there,
  so copies stay copies and links stay links; in a move export each new place is journaled
  first, so `esmc-desktop undo OUT` still puts every original back;
- the manifest, the saved ONNX heads and result.json are updated, so `assign` uses what was learnt.

A photo the user placed is never moved. Re-sorts are planned first and journaled, one durable line
each, in OUT/.esmc/learn-pending.jsonl; then the user's placed photos are recorded, then the new
manifest is written (one atomic rename: the step that commits the learning), then the files move.
The next `learn` (`recover_pending`) reads that journal before the tree, as `undo` reads a move
journal: a torn last line is skipped; if the manifest names the journal's destinations the
learning was committed and the re-sorts are finished, otherwise they are rolled back (a file the
killed run already moved goes back); whatever can't be (its place is taken by another file) is
named, and learn stops with an error instead of learning from a tree the manifest does not describe.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import sparse

from esmc_desktop.engine.assign import saved_vector_key
from esmc_desktop.errors import EsmcError
from esmc_desktop.files import move_aside
from esmc_desktop.method.learn import check_resort, learn_from_corrections
from esmc_desktop.method.onnx_head import OnnxHead
from esmc_desktop.method.values import OTHER
from esmc_desktop.mllm.logit_lens import SparseLens
from esmc_desktop.photos.cache import FeatureCache, VectorKey
from esmc_desktop.photos.export import relocate, safe_name
from esmc_desktop.photos.export_folder import ExportFolder, Placement, SavedCriterion, free_name, rounded
from esmc_desktop.photos.scan import content_hash, display
from esmc_desktop.saved_result import update_criterion

log = logging.getLogger("esmc_desktop")


@dataclass
class CriterionLearnt:
    """What learning changed in one criterion."""

    criterion: str
    corrections: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old name, new name)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # (file, from cluster, to cluster)
    retrained: bool = False


@dataclass
class LearnReport:
    out: Path
    move_export: bool
    criteria: list[CriterionLearnt]
    ignored: list[Path]  # files in the tree that are no photo of this export: left alone
    resort: str = "doubtful"  # which untouched photos could move (method.learn.RESORT_CHOICES)


@dataclass
class _Found:
    """One criterion's photos as the tree holds them now."""

    where: dict[str, Path]  # sha -> path of the file now
    folders: list[Path]  # cluster folders that hold photos now
    ignored: list[Path]


def learn_export(out: Path | str, cache_dir: Path | str | None = None, *, resort: str = "doubtful") -> LearnReport:
    """Learn from the corrections made in an export folder; re-sort the untouched photos there.

    `resort`: "doubtful" (the default) keeps the photos the clustering had right; "all" re-sorts every photo
    the corrections teach about, for a clustering the user found mostly wrong (method.learn).
    """
    out = Path(out)
    check_resort(resort)
    folder = ExportFolder(out)
    if folder.is_tag_export():  # its manifest names sidecars beside the user's photos, no folders
        raise EsmcError(f"{out} holds a tag export: learning reads photos moved between cluster folders, so export "
                        "with --mode copy, hardlink, symlink or move, correct those folders, then learn")
    recover_pending(out)
    saved = folder.read_result()
    manifest = folder.read_manifest()
    placed = folder.read_placed()
    move_export = folder.is_move_export()
    reports, rows_out, moves, ignored, heads = [], [], [], [], []
    with FeatureCache(cache_dir) as cache:
        for index, criterion in enumerate(saved.criteria):
            rows = [r for r in manifest if r.criterion == criterion.text]
            if not rows:
                continue
            found = _find(rows)
            ignored += found.ignored
            report, new_rows, planned, head = _learn_criterion(criterion, rows, found, placed, cache,
                                                               saved_vector_key(saved, criterion), resort)
            reports.append(report)
            if head is not None:
                heads.append((index, *head))
            rows_out += new_rows
            moves += planned
    # Every criterion learnt without an error: only now is anything written.
    for index, weights, names, values in heads:
        update_criterion(out, index, weights, names, values)
    kept_rows = [r for r in manifest if r.criterion not in {c.text for c in saved.criteria}]
    if move_export:
        folder.journal_moves([(r.source, r.sha256, Path(r.destination)) for r in rows_out
                              if Path(r.destination).exists()] + [(src, sha, dst) for _, dst, src, sha in moves])
    # Journal the planned re-sorts, one durable line each, before anything is committed or moved.
    folder.write_pending([(src, dst, sha) for src, dst, _, sha in moves],
                         sorted({str(Path(r.destination).parent.parent) for r in rows_out}))
    folder.write_placed(placed)  # before the commit: a rolled-back learn's photos stay placed
    folder.write_manifest(kept_rows + rows_out)  # the commit
    recover_pending(out, interrupted=False)
    return LearnReport(out, move_export, reports, ignored, resort)


def _learn_criterion(criterion: SavedCriterion, rows: list[Placement], found: _Found, placed: dict[str, list[str]],
                     cache: FeatureCache, key: VectorKey, resort: str = "doubtful"):
    """(what changed, the criterion's new manifest rows, planned re-sorts, (new head or None, names, values) or None).

    Among named values, a folder the user renamed keeps being a value (a renamed `other` becomes one: it is
    named now) and a folder the user added is a value, as in the window.
    """
    report = CriterionLearnt(criterion.text)
    names = list(criterion.names)
    values = list(criterion.values)
    folder_of = {Path(r.destination).parent: r.cluster_id for r in rows}
    crit_dir = Path(rows[0].destination).parent.parent
    cluster_of_folder: dict[Path, int] = {}
    for folder in found.folders:
        if folder in folder_of:
            cluster_of_folder[folder] = folder_of[folder]
    claimed = set(cluster_of_folder.values())
    by_sha = {r.sha256: r for r in rows}
    for folder in sorted(set(found.folders) - set(cluster_of_folder)):
        origins = Counter(by_sha[sha].cluster_id for sha, path in found.where.items() if path.parent == folder)
        origin = origins.most_common(1)[0][0]
        gone = not any(f.exists() for f, c in folder_of.items() if c == origin)
        if gone and origin not in claimed:
            report.renamed.append((names[origin], folder.name))
            if names[origin] in values:
                values[values.index(names[origin])] = folder.name
            elif values and names[origin] == OTHER:
                values.append(folder.name)
            names[origin] = folder.name
            cluster_of_folder[folder] = origin
        else:
            report.added.append(folder.name)
            cluster_of_folder[folder] = len(names)
            names.append(folder.name)
            if values:
                values.append(folder.name)
        claimed.add(cluster_of_folder[folder])

    mine = set(placed.get(criterion.text, []))
    corrections = {}
    for i, r in enumerate(rows):
        path = found.where.get(r.sha256)
        if path is None:
            continue
        now = cluster_of_folder[path.parent]
        if now != r.cluster_id or r.sha256 in mine:
            corrections[i] = now
    report.corrections = sum(1 for i, r in enumerate(rows) if i in corrections and corrections[i] != r.cluster_id)
    if not corrections or report.corrections == 0 and not report.added:
        head = (None, names, _values(names, values)) if report.renamed else None
        return report, [_row(r, found, names, r.cluster_id, r.confidence) for r in rows], [], head

    X = _vectors(rows, cache, key, int(OnnxHead(criterion.head).metadata["n_vocab"]))
    labels = np.array([r.cluster_id for r in rows])
    sure = np.array([np.nan if r.confidence is None else r.confidence for r in rows], dtype=float)
    learnt = learn_from_corrections(X, labels, corrections, confidences=sure, resort=resort)
    report.retrained = True
    new_names = [names[c] for c in learnt.kept]
    report.removed = [names[c] for c in sorted(set(range(len(names))) - set(learnt.kept))]
    folder_by_new = {learnt.kept.index(c): f for f, c in cluster_of_folder.items() if c in learnt.kept}
    new_rows, moves, taken = [], [], set()
    placed[criterion.text] = sorted(mine | {rows[i].sha256 for i in corrections})
    for i, r in enumerate(rows):
        cluster = int(learnt.labels[i])
        row = _row(r, found, new_names, cluster, float(learnt.confidences[i]))
        path = found.where.get(r.sha256)
        if path is not None and i not in corrections and path.parent != folder_by_new.get(cluster):
            folder = folder_by_new.setdefault(cluster, crit_dir / safe_name(new_names[cluster],
                                                                            f"cluster {cluster + 1}"))
            dst = free_name(folder, path.name, taken)
            taken.add(dst)
            moves.append((path, dst, r.source, r.sha256))
            report.moved.append((path.name, names[cluster_of_folder[path.parent]], new_names[cluster]))
            row = replace(row, destination=str(dst))
        new_rows.append(row)
    return report, new_rows, moves, (learnt.weights, new_names, _values(new_names, values))


def _values(names: list[str], values: list[str]) -> list[str]:
    """The clusters that are values, in the order of the clusters (as result.json lists them)."""
    return [n for n in names if n in values]


def _row(r: Placement, found: _Found, names: list[str], cluster: int, confidence) -> Placement:
    path = found.where.get(r.sha256)
    return replace(r, cluster_id=cluster, cluster_name=names[cluster], confidence=rounded(confidence),
                   destination=str(path) if path is not None else r.destination)


def _find(rows: list[Placement]) -> _Found:
    """Where each photo of a criterion is now: its cluster folders, files matched by content."""
    crit_dir = Path(rows[0].destination).parent.parent
    at = {Path(r.destination): r for r in rows}
    exported = {r.sha256: Path(r.destination) for r in rows}
    where: dict[str, Path] = {}
    ignored = []
    if not crit_dir.is_dir():
        return _Found(where, [], ignored)
    for folder in sorted(p for p in crit_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            known = at.get(path)
            sha = known.sha256 if known is not None else _hash(path)
            if sha not in exported:
                ignored.append(path)
            elif sha not in where or where[sha] == exported[sha]:
                where[sha] = path  # a photo found twice: the copy the user put elsewhere wins
    folders = sorted({p.parent for p in where.values()})
    return _Found(where, folders, ignored)


def _stem(row: Placement) -> tuple[str, str]:
    source = Path(row.source)
    return str(source.parent), source.stem.casefold()


def _hash(path: Path) -> str | None:
    try:
        return content_hash(path)
    except OSError:
        return None


def _vectors(rows: list[Placement], cache: FeatureCache, key: VectorKey, n_vocab: int) -> sparse.csr_matrix:
    """The cached lens vectors the clustering was computed from, in manifest order.

    The RAW file of a RAW+JPEG pair has a row of its own but was read through its JPEG (photos/scan.py
    pairs them by folder and stem): it gets its JPEG's vector, so it is learnt and re-sorted with it.
    """
    found = [cache.get(r.sha256, key) for r in rows]
    by_stem = {_stem(r): f for r, f in zip(rows, found) if f is not None}
    found = [f if f is not None else by_stem.get(_stem(r)) for r, f in zip(rows, found)]
    missing = sum(f is None for f in found)
    if missing:
        raise EsmcError(f"{missing} of {len(rows)} photos of '{rows[0].criterion}' have no lens vector in the "
                        f"feature cache {cache.path.parent}; pass the --cache the export was made with")
    return SparseLens(np.stack([i for i, _ in found]), np.stack([v for _, v in found]), n_vocab).to_csr()


def recover_pending(out: Path, *, interrupted: bool = True) -> None:
    """Finish or roll back what an interrupted `learn` journaled, so the tree is what the manifest says.

    Committed (the manifest names where the journal moves its photos): every re-sort not yet done is done;
    else every one already done is undone. Then cluster folders left empty in its criteria go. A torn line
    is skipped: the journal is complete before the commit, so a torn line means the run died planning, before
    it moved anything. Raises EsmcError naming what could not be finished or undone (nothing is overwritten).
    `interrupted`: False where a `learn` carries out its own journal (nothing to say then).
    """
    export_dir = ExportFolder(out)
    plan = export_dir.read_pending()
    if plan is None:
        return
    path, moves, criteria, torn = plan
    try:
        manifest = {(r.sha256, Path(r.destination)) for r in export_dir.read_manifest()}
    except EsmcError:
        manifest = set()
    names_dst = {dst for _, dst in manifest}
    committed = any((sha, dst) in manifest if sha else dst in names_dst for _, dst, sha in moves)
    problems = []
    for src, dst, _ in moves:
        a, b = (src, dst) if committed else (dst, src)
        if a.exists() and not b.exists() and not b.is_symlink():
            relocate(a, b)
        elif a.exists() and (b.exists() or b.is_symlink()):
            problems.append(f"{display(a)} could not go to {display(b)}: another file is there")
    for crit_dir in map(Path, criteria):
        for folder in crit_dir.iterdir() if crit_dir.is_dir() else []:
            if folder.is_dir() and not folder.name.startswith(".") and not any(folder.iterdir()):
                folder.rmdir()
    done = "finished" if committed else "rolled back"
    if problems:  # the journal stays: once those files are out of the way, the next learn carries it out
        raise EsmcError(f"an interrupted `learn` was {done}, but not everything: {'; '.join(problems)}. Nothing was "
                        "overwritten; move those files out of the way, then run learn again")
    if committed and torn:
        aside = move_aside(path, "has lines that can't be read")
        raise EsmcError(f"an interrupted `learn` was {done}, but not everything: "
                        f"{'; '.join(t.problem for t in torn)}, so a photo it re-sorted may not be in the folder "
                        f"{out / 'manifest.json'} names (the journal is kept as {aside.name}). Put it there, then "
                        "run learn again")
    if interrupted:
        log.warning("an interrupted `learn` was found in %s and %s%s", out,
                    f"finished ({len(moves)} re-sorts)" if committed else
                    "rolled back (it had re-sorted nothing yet; this learn does it again)",
                    "; " + "; ".join(t.problem for t in torn) if torn else "")
    path.unlink()
