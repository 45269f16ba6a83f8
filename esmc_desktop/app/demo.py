"""`esmc-desktop demo`: generate a photo folder, cluster it by three criteria, export, score it; and which
model is in use, in words, with the warning when the demo model meets real photos (demo.notice).

The export is the one `cluster` makes (folders, manifests and the saved result), so `assign`
and `learn` work on the demo's sorted folder as on any other.

The generator's labels are used only here, after clustering, to print how well
each criterion's clusters match the truth and how independent they are of the
other criteria.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from esmc_desktop.app.export import export_result
from esmc_desktop.app.result import SortResult
from esmc_desktop.demo.notice import demo_notice, model_label
from esmc_desktop.demo.world import BACKGROUNDS, COLORS, CRITERIA, SHAPES, write_photo_folder
from esmc_desktop.engine.cluster import ClusterJob
from esmc_desktop.engine.session import ModelFiles, ModelSession
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings
from esmc_desktop.engine.types import ClusterResult, Criterion, Progress
from esmc_desktop.method.metrics import scores

__all__ = ["DemoReport", "demo_notice", "model_label", "run_demo"]

N_VALUES = {"color": len(COLORS), "shape": len(SHAPES), "background": len(BACKGROUNDS)}


@dataclass
class DemoReport:
    result: ClusterResult
    metrics: dict[str, dict[str, float]]
    cross_nmi: dict[tuple[str, str], float]
    photos_dir: Path
    sorted_dir: Path
    cache_dir: Path  # the feature cache `learn` on sorted_dir needs


def run_demo(out: Path | str, model: ModelFiles, *, n_photos: int = 120, seed: int = 7,
             settings: MethodSettings = MethodSettings(), compute: ComputeRequest = ComputeRequest(),
             note: Callable[[str], None] | None = None,
             progress: Callable[[Progress], None] | None = None) -> DemoReport:
    """The model is checked (and `note` hears where it runs) before any photo is written."""
    out = Path(out)
    with ModelSession.open(model, compute, cache_dir=out / "cache", note=note) as session:
        made = write_photo_folder(out / "photos", n_photos, seed=seed)
        truth_by_path = {path.resolve(): spec for path, spec in made}
        criteria = [Criterion(text, N_VALUES[attribute]) for text, attribute in CRITERIA.items()]
        result = ClusterJob(out / "photos", criteria, session, settings=settings, progress=progress).run()
    export_result(SortResult(result, model.lm, model.mmproj), out / "sorted")
    truth = {text: [truth_by_path[p.path.resolve()].label(attr) for p in result.photos]
             for text, attr in CRITERIA.items()}
    metrics = {c.reading.criterion.text: scores(truth[c.reading.criterion.text], c.clustering.labels)
               for c in result.criteria}
    cross = {(c.reading.criterion.text, other): scores(truth[other], c.clustering.labels)["nmi"]
             for c in result.criteria for other in CRITERIA if other != c.reading.criterion.text}
    return DemoReport(result, metrics, cross, out / "photos", out / "sorted", out / "cache")
