"""Export: folders, manifests and saved heads, all written from the one result the user edited."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.app import checks
from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.result import SortResult
from esmc_desktop.errors import Cancelled
from esmc_desktop.photos.export import MODES, Placement, export, plan
from esmc_desktop.pipeline import Progress
from esmc_desktop.saved_result import save_result

__all__ = ["MODES", "ExportReport", "export_result", "preview"]


@dataclass(frozen=True)
class ExportReport:
    out: Path
    mode: str
    dry_run: bool
    placements: list[Placement]

    @property
    def files(self) -> int:
        return len(self.placements)


def preview(result: SortResult, out: Path | str) -> dict[Path, int]:
    """The folders an export into `out` would write, with how many photos each gets (writes nothing)."""
    return dict(Counter(row[-1] for row in plan(result.photo_paths(), result.assignments(), Path(out))))


def export_result(result: SortResult, out: Path | str, *, mode: str = "copy", dry_run: bool = False,
                  feedback: Feedback | None = None) -> ExportReport:
    """Write OUT/<criterion>/<cluster>/<photo>, the manifests, and OUT/.esmc (the heads `assign` uses).

    Names, clusters and heads all come from `result`, as the user left it. Nothing is ever
    overwritten; a move can be undone (`undo`). Raises Cancelled when `feedback.cancel` is set.
    """
    feedback = feedback or Feedback()
    out = checks.output_folder(out)

    def placed(done: int, total: int) -> None:
        if feedback.cancel.is_set():
            raise Cancelled(f"export cancelled: the folders written so far stay in {out}; no original was removed"
                            + (" (Undo move export removes them)" if mode == "move" else ""))
        if feedback.progress is not None:
            feedback.progress(Progress("exporting", done, total))

    placements = export(result.photo_paths(), result.assignments(), out, mode=mode, dry_run=dry_run, progress=placed)
    if not dry_run:
        save_result(result, out)
        result.edited = False
    return ExportReport(out, mode, dry_run, placements)
