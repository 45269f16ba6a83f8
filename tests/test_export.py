"""Exporting never loses or overwrites a photo, even when the disk fails or the process dies."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from esmc_desktop.cli import main
from esmc_desktop.photos import export as export_module
from esmc_desktop.photos.export import ExportError, ExportRow, export, safe_name, sources
from esmc_desktop.photos.undo import undo_move
from esmc_desktop.photos.scan import content_hash, scan
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): content_hash(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def assignments(folder: Path, k: int = 2) -> list[ExportRow]:
    """A row per photo of the folder in two criteria: color (k groups) and shape."""
    photos = sources(scan(folder).photos)
    return ([ExportRow(p, "color", i % k, f"group {i % k}", 0.9) for i, p in enumerate(photos)] +
            [ExportRow(p, "shape", i % 3, ["round", "square", "star"][i % 3], 0.8) for i, p in enumerate(photos)])


@pytest.mark.parametrize("name, safe", [
    ("red", "red"), ("a/b\\c", "a_b_c"), ("..", "unnamed"), ("", "unnamed"), ("CON", "_CON"),
    ("nul.txt", "_nul.txt"), ("what?*<>|", "what_____"), ("trailing. ", "trailing"), ("x" * 300, "x" * 120),
])
def test_names_are_safe_on_every_system(name, safe):
    assert safe_name(name) == safe


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_export_modes_place_every_photo_and_a_rerun_changes_nothing(tmp_path, mode):
    chosen = assignments(make_photos(tmp_path / "p", 6))
    out = tmp_path / "out"
    first = export(chosen, out, mode)
    assert len(first) == 12
    for row in first:
        assert content_hash(Path(row.destination)) == row.sha256
        if mode == "symlink":
            assert Path(row.destination).is_symlink()
    def tree() -> dict[Path, int]:  # .esmc changes: a run's lock comes and goes there
        return {p: p.stat().st_mtime_ns for p in out.rglob("*") if not p.is_symlink() and ".esmc" not in p.parts}

    snapshot = tree()
    export(chosen, out, mode)
    assert tree() == snapshot


def test_a_name_taken_by_another_file_gets_a_suffix_never_an_overwrite(tmp_path):
    chosen = assignments(make_photos(tmp_path / "p", 2))
    first = chosen[0].photo.path
    target = tmp_path / "out" / "color" / "group 0"
    target.mkdir(parents=True)
    mine = target / first.name
    mine.write_bytes(b"my own file, not a photo from this run")
    rows = export(chosen, tmp_path / "out")
    assert mine.read_bytes() == b"my own file, not a photo from this run"
    placed = next(r for r in rows if r.source == str(first) and r.criterion == "color")
    assert Path(placed.destination).name == f"{first.stem} (2){first.suffix}"


def test_photos_of_the_same_name_from_many_folders_each_get_their_own_number_and_a_rerun_adds_none(tmp_path):
    from PIL import Image

    from models.tiny_llava import sample_image

    for card in range(4):  # four camera cards, each numbering its photos from IMG_0001
        (tmp_path / "p" / f"card-{card}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(sample_image(10 * card + i)).save(tmp_path / "p" / f"card-{card}" / f"IMG_000{i + 1}.png")
    photos = sources(scan(tmp_path / "p").photos)
    first = photos[:6]  # the fourth card comes later
    group = tmp_path / "out" / "kind" / "all"
    group.mkdir(parents=True)
    (group / "IMG_0002 (2).png").write_bytes(b"the user's own file")

    def plan(chosen):
        return [ExportRow(p, "kind", 0, "all", 0.9) for p in chosen]

    rows = export(plan(first), tmp_path / "out", "hardlink")
    names = sorted(Path(r.destination).name for r in rows)
    assert names == ["IMG_0001 (2).png", "IMG_0001 (3).png", "IMG_0001.png",
                     "IMG_0002 (3).png", "IMG_0002 (4).png", "IMG_0002.png"]
    assert all(content_hash(Path(r.destination)) == r.sha256 for r in rows)
    assert (group / "IMG_0002 (2).png").read_bytes() == b"the user's own file"

    again = export(plan(photos), tmp_path / "out", "hardlink", add=True)

    assert [r.destination for r in again[:6]] == [r.destination for r in rows]  # found where they are, not copied
    assert sorted(Path(r.destination).name for r in again[6:]) == ["IMG_0001 (4).png", "IMG_0002 (5).png"]
    assert len(list(group.iterdir())) == 9
    backwards = export(plan(photos[::-1]), tmp_path / "out", "hardlink", add=True)
    assert {r.sha256: r.destination for r in backwards} == {r.sha256: r.destination for r in again}
    assert len(list(group.iterdir())) == 9


def test_dry_run_writes_nothing(tmp_path):
    chosen = assignments(make_photos(tmp_path / "p", 3))
    rows = export(chosen, tmp_path / "out", "move", dry_run=True)
    assert len(rows) == 6 and not (tmp_path / "out").exists()
    assert len(list((tmp_path / "p").rglob("*.png"))) == 3


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_full_or_read_only_destination_loses_nothing(tmp_path, monkeypatch, fault):
    src = make_photos(tmp_path / "p", 6)
    before = hashes(src)
    chosen = assignments(src)
    real_copy = export_module.shutil.copy2
    calls = []

    def failing_copy(a, b):
        calls.append(b)
        if len(calls) > 3:
            Path(b).write_bytes(Path(a).read_bytes()[:100])  # a partial write, then the disk says no
            raise OSError(fault, os.strerror(fault), str(b))
        return real_copy(a, b)

    monkeypatch.setattr(export_module.shutil, "copy2", failing_copy)
    with pytest.raises(ExportError, match="No original photo was removed"):
        export(chosen, tmp_path / "out", "move")
    assert hashes(src) == before
    assert not list((tmp_path / "out").rglob("*.partial"))
    for placed in (tmp_path / "out").rglob("*.png"):
        assert content_hash(placed) in before.values()


def test_a_move_killed_midway_is_undone_without_losing_a_photo(tmp_path, tiny):
    src = make_photos(tmp_path / "photos", 80, size=900, fmt="jpg")
    before = hashes(src)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "esmc_desktop.cli", "cluster", str(src), "--criterion", "color of the object:2",
         "--keywords", "color of the object=red,green", "--out", str(out), "--cache", str(tmp_path / "cache"),
         "--mode", "move", "--quiet", *model_args(tiny)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while len(list(src.rglob("*.jpg"))) > 60 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    remaining = len(list(src.rglob("*.jpg")))
    print(f"\nkilled with {remaining} of 80 photos still in place")
    assert main(["undo", str(out)]) == 0
    assert hashes(src) == before
    assert not list(out.rglob("*.jpg"))


def test_undo_without_a_move_says_so(tmp_path):
    with pytest.raises(ExportError, match="nothing to undo"):
        undo_move(tmp_path)


def test_manifest_lists_source_hash_criterion_cluster_and_confidence(tmp_path):
    chosen = assignments(make_photos(tmp_path / "p", 3))
    export(chosen, tmp_path / "out")
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(rows[0]) == {"source", "sha256", "criterion", "cluster_id", "cluster_name", "confidence", "destination"}
    header = (tmp_path / "out" / "manifest.csv").read_text().splitlines()[0]
    # the last two hold a path's exact bytes when its name is not UTF-8 (empty here)
    assert header == "source,sha256,criterion,cluster_id,cluster_name,confidence,destination,source_fs,destination_fs"
