"""The app's own output never becomes its input, and one run at a time writes into an output folder.

Through the command line on the tiny model, and through the scan as the window uses it (app.scan).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from esmc_desktop.app.scan import scan_folder
from esmc_desktop.photos.export import ExportRow, export, sources
from esmc_desktop.photos.scan import content_hash, scan
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def cluster(tiny, photos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("cluster", str(photos), "--criterion", "color of the object:2", "--keywords",
               "color of the object=red,green", "--out", str(out), "--quiet", "--json",
               "--cache", str(photos.parent / "cache"), *model_args(tiny), *extra)


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): content_hash(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_into_the_photo_folder_skips_the_first_run_s_export_and_its_own_output(tmp_path, tiny):
    lib = make_photos(tmp_path / "lib", 12)
    first = cluster(tiny, lib, lib / "a-out")
    assert first.returncode == 0, first.stderr
    before = hashes(lib)
    second = cluster(tiny, lib, lib / "b-out", "--mode", "move")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["photos"] == 12, "the originals only, not the first export's copies"
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert reasons == {"a-out": "an ESMC export or tag journal (it holds .esmc); its files are not sorted again",
                       "b-out": "the output folder of this run; its files are not sorted again"}
    assert {k: v for k, v in hashes(lib).items() if k.startswith("a-out")} == \
        {k: v for k, v in before.items() if k.startswith("a-out")}, "the first export is untouched"
    moved = [p for p in (lib / "b-out").rglob("*.png")]
    assert len(moved) == 12 and not [p for p in lib.rglob("*.png") if "out" not in p.parts[len(lib.parts)]]


def test_a_move_that_would_empty_an_earlier_export_is_refused_with_a_sentence(tmp_path, tiny):
    lib = make_photos(tmp_path / "lib", 6)
    assert cluster(tiny, lib, tmp_path / "a-out").returncode == 0
    before = hashes(tmp_path / "a-out")
    again = cluster(tiny, tmp_path / "a-out", tmp_path / "b-out", "--mode", "move")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "earlier export" in again.stderr and "--mode copy" in again.stderr, again.stderr
    assert hashes(tmp_path / "a-out") == before


def test_sidecars_of_scanned_photos_are_not_skipped_files_but_a_lone_one_is(tmp_path):
    photos = make_photos(tmp_path / "photos", 4)
    first = sorted(photos.glob("*.png"))[0]
    (first.parent / (first.name + ".xmp")).write_text("<x/>")  # digiKam / darktable style
    (first.parent / (first.stem + ".xmp")).write_text("<x/>")  # Lightroom style
    (photos / "gone.jpg.xmp").write_text("<x/>")
    found = scan_folder(photos)
    assert len(found.photos) == 4
    assert [(s.path.name, s.reason) for s in found.skipped] == [("gone.jpg.xmp",
                                                                "an XMP sidecar with no photo beside it")]


def test_a_tag_export_s_sidecars_are_not_counted_as_skipped_on_the_next_run(tmp_path):
    photos = make_photos(tmp_path / "photos", 6)
    found = sources(scan(photos).photos)
    export([ExportRow(p, "colour", 0, "red", 0.9) for p in found], tmp_path / "out", mode="tags")
    assert len(list(photos.rglob("*.xmp"))) == 6
    again = scan_folder(photos)
    assert len(again.photos) == 6 and again.skipped == []


def test_exclude_patterns_leave_out_folders_and_files_each_said_once(tmp_path):
    photos = make_photos(tmp_path / "photos", 8)  # every fourth photo is in photos/album
    (photos / "Private").mkdir()
    (photos / "Private" / "me.png").write_bytes((photos / "photo-001.png").read_bytes()[:-1] + b"\x01")
    found = scan_folder(photos, exclude=["Private", "album/photo-004.png"])
    names = sorted(p.path.name for p in found.photos)
    assert "me.png" not in names and "photo-004.png" not in names and len(names) == 7
    assert sorted((s.path.name, s.reason) for s in found.skipped) == [
        ("Private", "excluded (--exclude Private)"), ("photo-004.png", "excluded (--exclude album/photo-004.png)")]


def test_exclude_on_the_command_line(tmp_path, tiny):
    lib = make_photos(tmp_path / "lib", 12)  # photos 0, 4, 8 in lib/album
    done = cluster(tiny, lib, tmp_path / "out", "--exclude", "album", "--exclude", "*-011.png")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["photos"] == 8 and len(summary["skipped"]) == 2


def test_the_output_folder_inside_the_photo_folder_is_passed_over_on_its_first_run_too(tmp_path):
    photos = make_photos(tmp_path / "photos", 4)
    out = photos / "sorted"
    (out / "by hand").mkdir(parents=True)  # made by the user before the first export: no .esmc in it yet
    (out / "by hand" / "x.png").write_bytes((photos / "photo-001.png").read_bytes() + b"\x00")
    found = scan_folder(photos, out=out)
    assert len(found.photos) == 4 and [s.reason for s in found.skipped] == [
        "the output folder of this run; its files are not sorted again"]


def test_a_second_run_into_the_same_output_folder_is_refused_while_the_first_runs(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 4)
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from esmc_desktop.app.export import claim_output\n"
                               "with claim_output(sys.argv[1]):\n"
                               "    print('holding', flush=True)\n"
                               "    sys.stdin.read()\n", str(out)],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        second = cluster(tiny, photos, out)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"(process {holder.pid}) is writing into {out}" in second.stderr, second.stderr
        assert not (out / "manifest.json").exists()
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert not (out / ".esmc" / "lock").exists(), "the lock goes with its run"
    assert cluster(tiny, photos, out).returncode == 0


def test_a_lock_left_by_a_killed_run_is_taken_over_and_its_partial_files_removed(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 4)
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has ended
    (out / ".esmc").mkdir(parents=True)
    (out / ".esmc" / "lock").write_text(f"{pid}\n")
    (out / "color of the object" / "red").mkdir(parents=True)
    leftover = out / "color of the object" / "red" / f".photo-001.png.{pid}-140000.partial"
    leftover.write_bytes(b"half a photo")
    done = cluster(tiny, photos, out)
    assert done.returncode == 0, done.stderr
    assert not leftover.exists()
    assert len(json.loads((out / "manifest.json").read_text())) == 4
