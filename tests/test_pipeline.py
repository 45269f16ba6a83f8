"""`esmc-desktop cluster` end to end on the tiny model: trees, manifests, cache, resume, no network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.mllm.logit_lens import LogitLens
from esmc_desktop.mllm.runtime import LlavaRuntime
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.export import safe_name
from esmc_desktop.photos.scan import content_hash
from esmc_desktop.engine.cluster import ClusterJob
from esmc_desktop.engine.session import ModelFiles, ModelSession
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings
from esmc_desktop.engine.types import ClusterResult, Criterion
from esmc_desktop.errors import Cancelled
from esmc_desktop.mllm.gpu import GpuLayers
from models.tiny_llava import sample_image

REPO = Path(__file__).resolve().parent.parent
CRITERIA = ["--criterion", "color of the object:3", "--criterion", "shape of the object:2",
            "--keywords", "color of the object=red,green,blue"]


def make_photos(folder: Path, n: int, size: int = 56, fmt: str = "png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.fromarray(sample_image(i))
        if size != 56:
            img = img.resize((size, size))
        sub = folder / ("album" if i % 4 == 0 else "")
        sub.mkdir(exist_ok=True)
        img.save(sub / f"photo-{i:03d}.{fmt}")
    return folder


def run_job(photos: Path, criteria, lm: Path, mmproj: Path, *, cache_dir: Path,
            settings: MethodSettings = MethodSettings(), compute: ComputeRequest = ComputeRequest(GpuLayers(0)),
            **job) -> ClusterResult:
    """The clustering job on a model session opened for it (on the CPU unless `compute` says otherwise)."""
    with ModelSession.open(ModelFiles(lm, mmproj), compute, cache_dir=cache_dir) as session:
        return ClusterJob(photos, criteria, session, settings=settings, **job).run()


def run_cli(args, capsys) -> tuple[int, dict]:
    code = main(args + ["--json", "--quiet"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def model_args(tiny) -> list[str]:
    """The tiny model on one CPU thread: llama.cpp's threads spin at each barrier, and on a shared, busy machine
    two of them ran a small model about 12x slower than one (16 photos of the demo model: 105 s against 8.5 s)."""
    return ["--model", str(tiny.f16.quantized), "--mmproj", str(tiny.f16.mmproj), "--gpu-layers", "0",
            "--threads", "1"]


def test_cluster_writes_trees_and_manifests_that_match_the_clustering(tmp_path, tiny, capsys):
    photos = make_photos(tmp_path / "photos", 24)
    out, cache = tmp_path / "sorted", tmp_path / "cache"
    code, summary = run_cli(["cluster", str(photos), *CRITERIA, "--out", str(out), "--cache", str(cache),
                             *model_args(tiny)], capsys)
    assert code == EXIT_OK
    assert summary["photos"] == 24 and summary["model_evaluations"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest) == 24 * 2
    for row in manifest:
        dst = Path(row["destination"])
        assert dst.is_file() and content_hash(dst) == row["sha256"] == content_hash(Path(row["source"]))
        assert dst.parent.name == safe_name(row["cluster_name"]) and dst.parent.parent.name == row["criterion"]
    for crit in summary["criteria"]:
        for cluster in crit["clusters"]:
            rows = [r for r in manifest if r["criterion"] == crit["criterion"] and r["cluster_id"] == cluster["id"]]
            assert len(rows) == cluster["count"] > 0
            assert len(list((out / crit["criterion"] / safe_name(cluster["name"])).iterdir())) == cluster["count"]
    assert [c["k"] for c in summary["criteria"]] == [3, 2]
    assert (out / "manifest.csv").read_text().count("\n") == 24 * 2 + 1

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, again = run_cli(["cluster", str(photos), *CRITERIA, "--out", str(out), "--cache", str(cache),
                           *model_args(tiny)], capsys)
    assert code == EXIT_OK and again["model_evaluations"] == 0
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.suffix != ".onnx"
             and p.name != "result.json"}
    assert after == {p: t for p, t in before.items() if p in after} and set(after) <= set(before)


def test_a_cancelled_run_resumes_from_the_cache(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 16)
    cancel = threading.Event()
    seen = []

    def progress(p):
        if p.stage == "reading photos":
            seen.append(p)
            if len(seen) == 2:
                cancel.set()
    criteria = [Criterion.parse("color of the object:2", "red,green")]
    settings = MethodSettings(n_samples=4)
    with pytest.raises(Cancelled, match="cached"):
        run_job(photos, criteria, tiny.f16.quantized, tiny.f16.mmproj, cache_dir=tmp_path / "cache",
                settings=settings, progress=progress, cancel=cancel)
    assert seen[-1].photos_per_second > 0 and seen[-1].seconds_left is not None
    resumed = run_job(photos, criteria, tiny.f16.quantized, tiny.f16.mmproj, cache_dir=tmp_path / "cache",
                      settings=settings)
    assert resumed.images_encoded == 16 - 4 - 2  # the 4 localization samples and the 2 photos read before
    assert len(resumed.photos) == 16


def test_each_photo_is_run_once_the_localization_samples_included(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 10, size=700, fmt="jpg")
    criteria = [Criterion.parse("color of the object:2", "red,green,blue"),
                Criterion("shape of the object", 2, ())]  # no keywords: its target is the default place
    result = run_job(photos, criteria, tiny.f16.quantized, tiny.f16.mmproj, cache_dir=tmp_path / "cache",
                     settings=MethodSettings(n_samples=6))
    assert result.images_encoded == 10 and result.times.photos_decoded == 10
    assert result.criteria[1].reading.localization.fallback

    target = result.criteria[0].reading.localization
    lens = LogitLens.from_gguf(tiny.f16.quantized)
    with LlavaRuntime(tiny.f16.quantized, tiny.f16.mmproj, layers=[target.layer]) as rt:
        for n, photo in enumerate(result.photos):
            states = rt.run(load_rgb(photo.path, min_side=rt.image_size), [result.criteria[0].reading.prompt]).prompts[0]
            alone = lens.project(states.layer(target.layer)[target.position][None], target.layer)
            row = result.criteria[0].reading.vectors[n]
            np.testing.assert_array_equal(np.sort(row.indices), np.sort(alone.indices[0]))
            np.testing.assert_allclose(np.sort(row.data), np.sort(alone.values[0]), rtol=1e-5, atol=1e-6)


def test_no_sample_runs_when_no_criterion_has_keywords(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 6)
    result = run_job(photos, [Criterion("color of the object", 2, ())], tiny.f16.quantized, tiny.f16.mmproj,
                     cache_dir=tmp_path / "cache")
    assert result.images_encoded == 6 and result.criteria[0].reading.localization.fallback


def test_the_whole_run_works_with_sockets_blocked(tmp_path, tiny, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    photos = make_photos(tmp_path / "photos", 8)
    result = run_job(photos, [Criterion.parse("color of the object:2", "red,green")], tiny.f16.quantized,
                     tiny.f16.mmproj, cache_dir=tmp_path / "cache")
    assert len(result.criteria[0].clustering.labels) == 8


def test_keywords_are_asked_of_the_model_when_not_given(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 6)
    result = run_job(photos, [Criterion.parse("shape of the object:2")], tiny.f16.quantized, tiny.f16.mmproj,
                     cache_dir=tmp_path / "cache")
    loc = result.criteria[0].reading.localization
    assert result.criteria[0].reading.prompt == "The shape of the object is"
    assert loc.message  # says how the target was chosen, even when it had to fall back


def test_the_template_the_localization_rule_and_its_search_span_are_chosen_on_the_command_line(tmp_path, tiny,
                                                                                               capsys):
    from esmc_desktop.saved_result import load_result

    photos = make_photos(tmp_path / "photos", 6)
    out = tmp_path / "sorted"
    code, summary = run_cli(["cluster", str(photos), *CRITERIA, "--out", str(out), "--cache", str(tmp_path / "c"),
                             "--template", "llava-hf", "--localization", "paper", "--search", "template",
                             *model_args(tiny)], capsys)
    assert code == EXIT_OK
    assert {(c["template"], c["localization_rule"]) for c in summary["criteria"]} == {("llava-hf", "paper")}
    assert load_result(out).template == "llava-hf"  # `assign` reads new photos in the same template


@pytest.mark.parametrize("spec, text, k", [("color of the car", "color of the car", None),
                                           ("color of the car:4", "color of the car", 4),
                                           ("the place: auto", "the place", None)])
def test_criterion_syntax(spec, text, k):
    c = Criterion.parse(spec)
    assert (c.text, c.k) == (text, k)


def test_impossible_criteria_are_refused(capsys, tiny, tmp_path):
    code = main(["cluster", str(tmp_path), "--criterion", "color:1", "--out", str(tmp_path / "o"),
                 *model_args(tiny)])
    assert code == 1 and "at least 2" in capsys.readouterr().err


def _cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "esmc_desktop.cli", *args, "--quiet", "--json"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _cache_rows(cache: Path) -> int:
    import sqlite3

    db = cache / "features.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM lens_vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_cluster_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 60, size=1400, fmt="jpg")
    args = ["cluster", str(photos), "--criterion", "color of the object:3", "--keywords",
            "color of the object=red,green,blue", "--samples", "10", *model_args(tiny)]
    proc = _cli(args + ["--out", str(tmp_path / "a"), "--cache", str(tmp_path / "cache-a")])
    deadline = time.time() + 120
    while _cache_rows(tmp_path / "cache-a") < 15 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert proc.returncode < 0, "the run finished before it could be killed"
    done_before = _cache_rows(tmp_path / "cache-a")
    assert 15 <= done_before < 60  # the 10 localization samples' rows come first
    resumed = subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args, "--out", str(tmp_path / "a"),
                              "--cache", str(tmp_path / "cache-a"), "--quiet", "--json"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["model_evaluations"] <= 60 - done_before + 10
    fresh = subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args, "--out", str(tmp_path / "b"),
                            "--cache", str(tmp_path / "cache-b"), "--quiet", "--json"], cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr

    def labels(out: Path):
        return sorted((r["source"], r["criterion"], r["cluster_id"], r["cluster_name"])
                      for r in json.loads((out / "manifest.json").read_text()))
    assert labels(tmp_path / "a") == labels(tmp_path / "b")
