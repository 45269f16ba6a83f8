"""`esmc-desktop bench`: ESMC against the papers' baselines on a labelled dataset, same photos, same model.

Dataset layout (the ESMC datasets'): DATASET/<criterion>/<label>/<image>, each
photo once under every criterion (matched by content). Methods:
  esmc           the full method (localization + clustering head)
  esmc-no-head   k-means on the same lens vectors (ESMC Table 3, "w/o MLP")
  output-text    the model's answer to the criterion -> TF-IDF -> k-means (ESMC Table 3
                 "Output"; the text-guided clustering paper's keyword baseline)
  image-kmeans   k-means on the mean of the mmproj outputs (the photo's image embedding)
Methods built on k-means are averaged over `seeds` seeds. Labels are used for the
metrics only.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from esmc_desktop.errors import EsmcError
from esmc_desktop.method.head import ClusteringHead
from esmc_desktop.method.metrics import scores
from esmc_desktop.mllm.runtime import LlavaRuntime
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.scan import content_hash
from esmc_desktop.pipeline import ClusterJob, Criterion, Progress, RunSettings

METHODS = ("esmc", "esmc-no-head", "output-text", "image-kmeans")
METRICS = ("nmi", "ri", "ari", "acc")


@dataclass
class Report:
    rows: list["Row"]
    # (clustered by, labels of) -> NMI of ESMC's clustering (seed 0) against another criterion's labels
    cross: dict[tuple[str, str], float]


@dataclass(frozen=True)
class Row:
    criterion: str
    method: str
    nmi: float
    ri: float
    ari: float
    acc: float


def load_labels(dataset: Path) -> dict[str, dict[str, str]]:
    """criterion -> {content hash -> label}."""
    out: dict[str, dict[str, str]] = {}
    for crit in sorted(p for p in dataset.iterdir() if p.is_dir() and not p.name.startswith(".")):
        labels = {}
        for label_dir in sorted(p for p in crit.iterdir() if p.is_dir()):
            for f in sorted(label_dir.iterdir()):
                if f.is_file():
                    labels[content_hash(f)] = label_dir.name
        if len(set(labels.values())) >= 2:
            out[crit.name] = labels
    if not out:
        raise EsmcError(f"{dataset} has no <criterion>/<label>/<image> folders with at least two labels")
    return out


def _mean_scores(truth, runs: list[np.ndarray]) -> dict[str, float]:
    per = [scores(truth, labels) for labels in runs]
    return {m: float(np.mean([p[m] for p in per])) for m in METRICS}


def _kmeans_runs(X, k: int, seeds: int) -> list[np.ndarray]:
    # Identical rows are normal here (many photos get the same one-word answer); k-means then
    # finds fewer distinct clusters than asked and says so: expected, not a problem to report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [KMeans(k, n_init=1, random_state=seed).fit_predict(X) for seed in range(seeds)]


def question(criterion: str) -> str:
    """'color of the object' -> 'What is the color of the object? Answer with one word.'"""
    return f"What is the {criterion.removeprefix('the ').strip()}? Answer with one word."


def run_benchmark(dataset: Path | str, lm: Path | str, mmproj: Path | str, *, seeds: int = 10,
                  cache_dir: Path | str | None = None, settings: RunSettings = RunSettings(),
                  progress: Callable[[Progress], None] | None = None) -> Report:
    dataset = Path(dataset)
    labels = load_labels(dataset)
    criteria = [Criterion(name, len(set(lab.values()))) for name, lab in labels.items()]
    result = ClusterJob(dataset, criteria, lm, mmproj, cache_dir=cache_dir, settings=settings,
                        progress=progress).run()
    photos = result.photos
    rows: list[Row] = []
    answers: dict[str, list[str]] = {c.text: [] for c in criteria}
    embeddings = []
    with LlavaRuntime(lm, mmproj, n_ctx=settings.n_ctx, n_threads=settings.threads,
                      n_gpu_layers=settings.gpu_layers) as rt:
        for photo in photos:
            image = load_rgb(photo.path)
            embeddings.append(rt.image_features(image).mean(axis=0))
            for c in criteria:
                answers[c.text].append(rt.generate(question(c.text), image=image, max_tokens=8))
    embeddings = np.stack(embeddings)
    truths = {c.text: [labels[c.text].get(p.sha256, "?") for p in photos] for c in criteria}
    cross = {}
    for c, res in zip(criteria, result.criteria):
        for other in criteria:
            if other.text != c.text:
                cross[(c.text, other.text)] = scores(truths[other.text], res.labels)["nmi"]
    for c, res in zip(criteria, result.criteria):
        truth = truths[c.text]
        esmc = [ClusteringHead(c.k, alpha=settings.alpha, seed=s).fit(res.vectors).labels_ for s in range(seeds)]
        text = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit_transform(
            [a or "<empty>" for a in answers[c.text]])
        methods = {
            "esmc": esmc,
            "esmc-no-head": _kmeans_runs(res.vectors, c.k, seeds),
            "output-text": _kmeans_runs(text, c.k, seeds),
            "image-kmeans": _kmeans_runs(embeddings, c.k, seeds),
        }
        for method, runs in methods.items():
            rows.append(Row(c.text, method, **_mean_scores(truth, runs)))
    return Report(rows, cross)


def markdown(report: Report) -> str:
    lines = ["| criterion | method | NMI | RI | ARI | ACC |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.criterion} | {r.method} | {r.nmi:.3f} | {r.ri:.3f} | {r.ari:.3f} | {r.acc:.3f} |"
              for r in report.rows]
    if report.cross:
        lines += ["", "Independence (NMI of ESMC's clustering by one criterion against another's labels):", "",
                  "| clustered by | labels of | NMI |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {v:.3f} |" for (a, b), v in report.cross.items()]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["criterion", "method", *METRICS])
    for r in rows:
        writer.writerow([r.criterion, r.method, *(f"{getattr(r, m):.4f}" for m in METRICS)])
    return buffer.getvalue()


def chart(rows: list[Row], path: Path) -> None:
    """Grouped bars of NMI per criterion and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    criteria = list(dict.fromkeys(r.criterion for r in rows))
    width = 0.8 / len(METHODS)
    fig, ax = plt.subplots(figsize=(2 + 2.2 * len(criteria), 4), dpi=110)
    for i, method in enumerate(METHODS):
        values = [next((r.nmi for r in rows if r.criterion == c and r.method == method), 0.0) for c in criteria]
        ax.bar(np.arange(len(criteria)) + i * width, values, width, label=method)
    ax.set_xticks(np.arange(len(criteria)) + width * (len(METHODS) - 1) / 2, criteria)
    ax.set_ylabel("NMI")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
