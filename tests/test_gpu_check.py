"""The GPU check's parity step (benchmarks/gpu_check.py), run here against the CPU reference it carries.

On a GPU machine the same step compares the CUDA build with this reference; here, on the build that
made it, it must pass with cosine 1 and the early stop must stop: what the GPU run relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_gpu_check_s_parity_step_passes_against_the_reference_this_build_wrote(tmp_path):
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    made = subprocess.run([sys.executable, "benchmarks/gpu_bundle.py", "--out", str(bundle), "--steps", "reference"],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (bundle / "cpu_reference.npz").is_file()
    check = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(out), "--bundle", str(bundle),
                            "--steps", "parity", "--workdir", str(tmp_path / "models")],
                           cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r.get("config") for r in records] == ["all layers and the mmproj on the GPU", "this build, on its CPU",
                                                  "block 3 only, early stop on, on the GPU", None]
    assert all(r["pass"] for r in records)
    assert all(r["min_cosine"] >= 0.999 for r in records[:3])
    assert records[2]["early_stopped_runs"] > 0
    assert "parity" in (out / "summary.md").read_text()
