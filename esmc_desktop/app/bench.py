"""`bench`: ESMC against its ablations and the papers' baselines on a labelled dataset, and the report's files."""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.bench.dataset import load_dataset, parse_mapping
from esmc_desktop.bench.methods import BenchConfig, Report
from esmc_desktop.bench.report import chart, csv_text, markdown
from esmc_desktop.bench.run import run_benchmark

__all__ = ["BenchConfig", "Report", "load_dataset", "parse_mapping", "run_benchmark", "write_report"]


def write_report(report: Report, out: Path) -> tuple[str, list[Path]]:
    """The Markdown table, its CSV and the NMI chart under `out`: the table and the files written."""
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(report)
    files = [out / "bench.md", out / "bench.csv", out / "bench.png"]
    files[0].write_text(table, encoding="utf-8")
    files[1].write_text(csv_text(report.rows), encoding="utf-8")
    chart(report.rows, files[2])
    return table, files
