"""The bench's report: one Markdown table, the CSV behind it, and a chart of NMI with its spread."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from esmc_desktop.bench.methods import METHODS, METRICS, Report, Row

LABELS_MARK = " (uses labels: upper bound)"


def _title(row: Row) -> str:
    return row.method + (LABELS_MARK if row.uses_labels else "")


def markdown(report: Report) -> str:
    lines = ["Settings:", ""] + [f"- {k}: {v}" for k, v in report.settings.items()]
    lines += ["", "| criterion folder | phrase | prompt | photos | K | ESMC target | Algorithm 1 target | last token "
              "| keywords |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {c.folder} | {c.phrase} | {c.prompt} | {c.photos} | {c.k} | {c.target} | {c.algorithm_1_target} "
              f"| {c.last_token_target} | {', '.join(c.keywords) or '(none)'} |" for c in report.criteria]
    lines += ["", "Mean ± standard deviation over the seeds.", "",
              "| criterion | method | NMI | RI | ARI | ACC | k-means restarts |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.rows:
        cells = " | ".join(f"{r.mean[m]:.3f} ± {r.std[m]:.3f}" for m in METRICS)
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.criterion} | {_title(r)}{note} | {cells} | {r.kmeans_restarts or '-'} |")
    lines += ["", "Methods:", ""] + [f"- {name}: {text}" for name, text in METHODS.items()]
    if report.cross:
        lines += ["", "Independence (mean NMI of ESMC's clustering by one criterion against another's labels):", "",
                  "| clustered by | labels of | NMI |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {v:.3f} |" for (a, b), v in report.cross.items()]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["criterion", "method", "uses_labels", "kmeans_restarts",
                     *(f"{m}{part}" for m in METRICS for part in ("", "_std")), "note"])
    for r in rows:
        writer.writerow([r.criterion, r.method, "yes" if r.uses_labels else "no", r.kmeans_restarts,
                         *(f"{v:.4f}" for m in METRICS for v in (r.mean[m], r.std[m])), r.note])
    return buffer.getvalue()


def chart(rows: list[Row], path: Path) -> None:
    """Grouped bars of mean NMI per criterion and method, with the seeds' standard deviation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    criteria = list(dict.fromkeys(r.criterion for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    width = 0.85 / len(methods)
    fig, ax = plt.subplots(figsize=(3 + 3 * len(criteria), 4.5), dpi=110)
    for i, method in enumerate(methods):
        found = [next((r for r in rows if r.criterion == c and r.method == method), None) for c in criteria]
        values = [r.mean["nmi"] if r else 0.0 for r in found]
        errors = [r.std["nmi"] if r else 0.0 for r in found]
        label = next(_title(r) for r in found if r)
        ax.bar(np.arange(len(criteria)) + i * width, values, width, yerr=errors, capsize=2, label=label,
               hatch="//" if any(r and r.uses_labels for r in found) else None)
    ax.set_xticks(np.arange(len(criteria)) + width * (len(methods) - 1) / 2, criteria)
    ax.set_ylabel("NMI (mean ± sd over seeds)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
