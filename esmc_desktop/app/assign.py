"""Assign: sort new photos into an exported result with its saved heads, without clustering again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from esmc_desktop.app import checks
from esmc_desktop.app.export import ExportReport, claim_output
from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.scan import scan_rules
from esmc_desktop.engine.assign import assign_new_photos
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import ComputeRequest
from esmc_desktop.photos.export import export
from esmc_desktop.photos.scan import Photo, Skipped
from esmc_desktop.saved_result import load_result


@dataclass(frozen=True)
class AssignedCriterion:
    """Where one criterion put the new photos: the result's clusters, and each photo's (in `photos` order)."""

    criterion: str
    names: list[str]
    labels: list[int]

    def counts(self) -> list[int]:
        """How many of the new photos went to each cluster (zero included), in the clusters' order."""
        return [self.labels.count(k) for k in range(len(self.names))]


@dataclass(frozen=True)
class AssignReport:
    photos: list[Photo]
    skipped: list[Skipped]
    images_encoded: int
    export: ExportReport
    criteria: list[AssignedCriterion]  # per criterion of the result, where the new photos went


def assign_photos(folder: Path | str, result_dir: Path | str, model: ModelFiles | None = None, *,
                  compute: ComputeRequest = ComputeRequest(), mode: str = "copy",
                  dry_run: bool = False, feedback: Feedback | None = None,
                  cache_dir: Path | str | None = None, exclude: Sequence[str] = ()) -> AssignReport:
    """Place the photos of `folder` into `result_dir`'s clusters. `model` None: the pair the result was made with.

    The photos join the export: its manifest keeps the earlier photos, and their lens vectors go into
    the feature cache (`cache_dir`), so a later `learn` re-sorts all of them.

    The scan passes over earlier exports (`result_dir` too) and what the `exclude` glob patterns match.
    Raises Cancelled (nothing exported) when `feedback.cancel` is set during the photo pass.
    """
    feedback = feedback or Feedback()
    checks.photo_folder(folder)
    saved = load_result(result_dir)
    model = model or ModelFiles(saved.lm, saved.mmproj)
    with ModelSession.open(model, compute, cache_dir=cache_dir, note=feedback.say) as session, \
            claim_output(result_dir, dry_run):
        done = assign_new_photos(folder, saved, session, progress=feedback.progress, cancel=feedback.cancel,
                                 rules=scan_rules(exclude, result_dir))
        placements = export(done.rows, result_dir, mode=mode, dry_run=dry_run, add=True)
    criteria = [AssignedCriterion(c.text, list(c.names), [r.cluster for r in done.rows if r.criterion == c.text])
                for c in saved.criteria]
    return AssignReport(done.photos, done.skipped, done.images_encoded,
                        ExportReport(Path(result_dir), mode, dry_run, placements), criteria)
