"""Export: folders, manifests and saved heads, all written from the one result the user edited."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from esmc_desktop.app import checks
from esmc_desktop.app.feedback import Feedback, Progress
from esmc_desktop.app.result import SortResult
from esmc_desktop.errors import Cancelled
from esmc_desktop.photos.export import MODES, export, plan
from esmc_desktop.photos.export_folder import ExportFolder, Placement
from esmc_desktop.photos.tags import TAG_MODES, sidecar_path
from esmc_desktop.photos.xmp import HIERARCHICAL, SUBJECT, keywords_for
from esmc_desktop.saved_result import save_sort

__all__ = ["MODES", "TAG_MODES", "UNDOABLE", "ExportReport", "PhotoKeywords", "claim_output", "export_result",
           "photo_keywords", "preview"]

UNDOABLE = ("move", *TAG_MODES)  # export modes `undo` reverses


@dataclass(frozen=True)
class ExportReport:
    out: Path
    mode: str
    dry_run: bool
    placements: list[Placement]

    @property
    def files(self) -> int:
        return len(self.placements)


@dataclass(frozen=True)
class PhotoKeywords:
    """What a tag export writes for one photo now: its cluster names, their hierarchy, and into which sidecars."""
    subject: list[str]
    hierarchical: list[str]
    sidecars: list[Path]


def photo_keywords(result: SortResult, photo: int) -> PhotoKeywords:
    """The keywords of `photo` with the clusters as the user left them (see photos/xmp.py), and where they go."""
    words = result.keywords(photo)
    shown = result.photos[photo]
    files = [shown.path, *(c.path for c in shown.companions)]
    return PhotoKeywords(words[SUBJECT], words[HIERARCHICAL], [sidecar_path(f) for f in files])


def preview(result: SortResult, out: Path | str, mode: str = "copy") -> dict[Path, int]:
    """The folders an export into `out` would write, with how many photos each gets (writes nothing).

    In a tag mode, the tree of hierarchical keywords instead: ESMC/criterion, then /cluster.
    """
    planned = plan(result.rows(), Path(out))
    if mode in TAG_MODES:
        return dict(Counter(Path(*keywords_for([(row.criterion, row.name)])[HIERARCHICAL][0].rsplit("|", 1))
                            for row, _ in planned))
    return dict(Counter(folder for _, folder in planned))


@contextmanager
def claim_output(out: Path | str, dry_run: bool = False) -> Iterator[None]:
    """Hold `out` for this run from its start (a second run there is refused with a sentence, FolderError).

    A dry run writes nothing, so it holds nothing.
    """
    if dry_run:
        yield
        return
    with ExportFolder(checks.output_folder(out)).lock():
        yield


def export_result(result: SortResult, out: Path | str, *, mode: str = "copy", dry_run: bool = False,
                  feedback: Feedback | None = None) -> ExportReport:
    """Write OUT/<criterion>/<cluster>/<photo>, the manifests, and OUT/.esmc (the heads `assign` uses).

    Names, clusters and heads all come from `result`, as the user left it. Nothing is ever
    overwritten; a move or a tag export can be undone (`undo`). Raises Cancelled when `feedback.cancel` is set.
    """
    feedback = feedback or Feedback()
    out = checks.output_folder(out)

    def placed(p: Progress) -> None:
        """After each file: stop there when the user cancelled, else pass the progress on."""
        if feedback.cancel.is_set():
            raise Cancelled(f"export cancelled: what was written so far stays in {out}; no original was removed"
                            + (" (Undo removes it)" if mode in UNDOABLE else ""))
        if feedback.progress is not None:
            feedback.progress(p)

    placements = export(result.rows(), out, mode=mode, dry_run=dry_run, progress=placed)
    if not dry_run:
        save_sort(out, result)
        result.edited = False
    return ExportReport(out, mode, dry_run, placements)

