"""Sort: a photo folder into clusters, one clustering per criterion, as one SortResult."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from esmc_desktop.app import checks
from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.result import SortResult
from esmc_desktop.app.scan import scan_rules
from esmc_desktop.engine.cluster import ClusterJob
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings
from esmc_desktop.engine.types import Criterion, Progress
from esmc_desktop.method.values import OTHER

__all__ = ["ComputeRequest", "Criterion", "MethodSettings", "OTHER", "Progress", "sort_photos"]


def sort_photos(folder: Path | str, criteria: Sequence[Criterion], model: ModelFiles, *,
                settings: MethodSettings = MethodSettings(), compute: ComputeRequest = ComputeRequest(),
                cache_dir: Path | str | None = None, feedback: Feedback | None = None,
                exclude: Sequence[str] = (), out: Path | str | None = None) -> SortResult:
    """Check the folder, the model and the context first; then scan, localize, read every photo, cluster.

    The scan passes over earlier ESMC exports, the folder `out` the result will go to, and what the
    glob patterns in `exclude` match (see photos/scan.py). Finished photos are cached, so a cancelled
    or killed sort resumes. Raises Cancelled when `feedback.cancel` is set.
    """
    feedback = feedback or Feedback()
    checks.photo_folder(folder)
    with ModelSession.open(model, compute, cache_dir=cache_dir, note=feedback.say) as session:
        computed = ClusterJob(folder, criteria, session, settings=settings, progress=feedback.progress,
                              cancel=feedback.cancel, rules=scan_rules(exclude, out)).run()
    result = SortResult(computed, model.lm, model.mmproj)
    result.prepare_review()
    return result
