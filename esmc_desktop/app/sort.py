"""Sort: a photo folder into clusters, one clustering per criterion, as one SortResult."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from esmc_desktop.app import checks
from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles, compute_settings
from esmc_desktop.app.result import SortResult
from esmc_desktop.method.values import OTHER
from esmc_desktop.app.scan import scan_rules
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.pipeline import ClusterJob, Criterion, Progress, RunSettings

__all__ = ["Criterion", "OTHER", "Progress", "RunSettings", "sort_photos"]


def sort_photos(folder: Path | str, criteria: Sequence[Criterion], model: ModelFiles, *,
                settings: RunSettings = RunSettings(), gpu: GpuLayers = GpuLayers(),
                cache_dir: Path | str | None = None, feedback: Feedback | None = None,
                exclude: Sequence[str] = (), out: Path | str | None = None) -> SortResult:
    """Check the folder, the model and the context first; then scan, localize, read every photo, cluster.

    The scan passes over earlier ESMC exports, the folder `out` the result will go to, and what the
    glob patterns in `exclude` match (see photos/scan.py). Finished photos are cached, so a cancelled
    or killed sort resumes. Raises Cancelled when `feedback.cancel` is set.
    """
    feedback = feedback or Feedback()
    checks.photo_folder(folder)
    checks.model_files(model.lm, model.mmproj)
    checks.context_size(settings.n_ctx, model.mmproj)
    settings, where = compute_settings(model, settings, gpu, note=feedback.say)
    feedback.say(where)
    computed = ClusterJob(folder, criteria, model.lm, model.mmproj, cache_dir=cache_dir, settings=settings,
                          progress=feedback.progress, cancel=feedback.cancel, rules=scan_rules(exclude, out)).run()
    result = SortResult(computed, model.lm, model.mmproj)
    result.prepare_review()
    return result
