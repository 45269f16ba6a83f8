"""`esmc-desktop learn OUT`: photos moved and folders renamed in a file manager teach the heads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.method.onnx_head import OnnxHead
from esmc_desktop.photos.scan import content_hash
from tests.test_export import hashes
from tests.test_pipeline import make_photos, model_args, run_cli

CRITERION = "color of the object"


def cluster(tmp_path: Path, tiny, capsys, mode: str) -> tuple[Path, Path, Path]:
    photos = make_photos(tmp_path / "photos", 24)
    out, cache = tmp_path / "sorted", tmp_path / "cache"
    code, _ = run_cli(["cluster", str(photos), "--criterion", f"{CRITERION}:3", "--keywords",
                       f"{CRITERION}=red,green,blue", "--out", str(out), "--cache", str(cache), "--mode", mode,
                       *model_args(tiny)], capsys)
    assert code == EXIT_OK
    return photos, out, cache


def manifest(out: Path) -> dict[str, dict]:
    return {row["sha256"]: row for row in json.loads((out / "manifest.json").read_text())}


def folders(out: Path) -> list[Path]:
    return sorted(p for p in (out / CRITERION).iterdir() if p.is_dir())


def correct_by_hand(out: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Move two photos of the biggest cluster into a small one, then rename the small one's folder.

    Returns where the moved photos are, and where every photo is now."""
    before = {sha: Path(r["destination"]) for sha, r in manifest(out).items()}
    by_size = sorted(folders(out), key=lambda f: len(list(f.iterdir())))
    # a folder keeps its identity while most of its photos are its own: the smallest with more than the 2 moved in
    small, big = next(f for f in by_size if len(list(f.iterdir())) > 2), by_size[-1]
    moved = {}
    for photo in sorted(big.iterdir())[:2]:
        moved[content_hash(photo)] = small / photo.name
        shutil.move(photo, small / photo.name)
    renamed = small.with_name("my favourites")
    small.rename(renamed)
    now = {sha: renamed / p.name if p.parent == small else p for sha, p in (before | moved).items()}
    return {sha: now[sha] for sha in moved}, now


def learn(out: Path, cache: Path, capsys) -> dict:
    code = main(["learn", str(out), "--cache", str(cache), "--json"])
    assert code == EXIT_OK
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_learn_keeps_what_the_user_placed_renames_and_resorts_only_untouched_photos(tmp_path, tiny, capsys, mode):
    photos, out, cache = cluster(tmp_path, tiny, capsys, mode)
    originals = hashes(tmp_path / "photos") if mode == "copy" else None
    before = manifest(out)
    placed, in_tree = correct_by_hand(out)

    summary = learn(out, cache, capsys)

    crit = summary["criteria"][0]
    assert crit["corrections"] == 2 and crit["retrained"]
    assert [new for _, new in crit["renamed"]] == ["my favourites"]
    after = manifest(out)
    assert set(after) == set(before)
    for sha, path in placed.items():  # the user's photos stay where the user put them
        assert path.is_file() and after[sha]["destination"] == str(path)
        assert after[sha]["cluster_name"] == "my favourites" and after[sha]["confidence"] == 1.0
    moved = {sha for sha in after if Path(after[sha]["destination"]) != in_tree[sha]}
    assert not moved & set(placed)  # only untouched photos are re-sorted
    assert len(moved) == len(crit["moved"])
    for sha, row in after.items():  # the tree is what the manifest says
        dst = Path(row["destination"])
        assert dst.is_file() and content_hash(dst) == sha and dst.parent.name == row["cluster_name"]
    names = json.loads((out / ".esmc" / "result.json").read_text())["criteria"][0]["names"]
    head = OnnxHead(out / ".esmc" / "criterion-1.onnx")
    assert "my favourites" in names and head.metadata["names"] == names
    assert head.metadata["n_clusters"] == len(names) == len({r["cluster_id"] for r in after.values()})

    again = learn(out, cache, capsys)  # nothing new: nothing moves, the user's photos stay theirs
    assert again["criteria"][0]["moved"] == [] and manifest(out) == after

    if mode == "copy":
        assert hashes(tmp_path / "photos") == originals
    else:
        assert not list(photos.rglob("*.png"))
        assert main(["undo", str(out)]) == 0
        assert len(list(photos.rglob("*.png"))) == 24
        assert {content_hash(p) for p in photos.rglob("*.png")} == set(before)
        assert not list(out.rglob("*.png"))


def test_a_photo_moved_into_a_new_folder_makes_a_new_cluster_and_an_emptied_one_goes(tmp_path, tiny, capsys):
    _, out, cache = cluster(tmp_path, tiny, capsys, "copy")
    smallest = min(folders(out), key=lambda f: len(list(f.iterdir())))
    new = out / CRITERION / "new cluster"
    new.mkdir()
    files = sorted(smallest.iterdir())
    for photo in files:
        shutil.move(photo, new / photo.name)
    smallest.rmdir()
    summary = learn(out, cache, capsys)["criteria"][0]
    # all of one cluster's photos in one new folder is a rename, not a new cluster
    assert summary["renamed"] and not summary["added"]

    other = max(folders(out), key=lambda f: len(list(f.iterdir())))
    extra = out / CRITERION / "extra"
    extra.mkdir()
    shutil.move(sorted(other.iterdir())[0], extra / sorted(other.iterdir())[0].name)
    summary = learn(out, cache, capsys)["criteria"][0]
    assert summary["added"] == ["extra"]
    names = json.loads((out / ".esmc" / "result.json").read_text())["criteria"][0]["names"]
    assert "extra" in names and len(names) == len(folders(out))


def test_learn_without_an_export_says_what_to_do(tmp_path, capsys):
    assert main(["learn", str(tmp_path)]) == 1
    assert "run `esmc-desktop cluster` first" in capsys.readouterr().err


def test_photos_assigned_into_an_export_join_it_and_learn_re_sorts_them_with_the_rest(tmp_path, tiny, capsys):
    _, out, cache = cluster(tmp_path, tiny, capsys, "copy")
    clustered = manifest(out)
    new = make_photos(tmp_path / "new", 6, size=60)  # other bytes than the clustered photos
    code, _ = run_cli(["assign", str(new), "--result", str(out), "--cache", str(cache), *model_args(tiny)], capsys)
    assert code == EXIT_OK
    joined = manifest(out)
    assert set(clustered) < set(joined) and len(joined) == 24 + 6  # the earlier photos are still in the manifest

    placed, _ = correct_by_hand(out)
    crit = learn(out, cache, capsys)["criteria"][0]

    assert crit["corrections"] == 2 and crit["retrained"]
    after = manifest(out)
    assert set(after) == set(joined)  # learning saw every photo: clustered and assigned
    for sha, path in placed.items():
        assert after[sha]["destination"] == str(path)
    for sha, row in after.items():
        assert content_hash(Path(row["destination"])) == sha


def test_the_raw_of_a_raw_jpeg_pair_is_learnt_with_its_jpeg_and_stays_beside_it(tmp_path, tiny, capsys):
    from PIL import Image

    from models.tiny_llava import sample_image
    from tests.raw_files import write_dng

    photos = make_photos(tmp_path / "photos", 16)
    pixels = sample_image(3)
    Image.fromarray(pixels).save(photos / "IMG_0001.JPG")
    write_dng(photos / "IMG_0001.DNG", pixels, preview="jpeg")
    out, cache = tmp_path / "sorted", tmp_path / "cache"
    code, _ = run_cli(["cluster", str(photos), "--criterion", f"{CRITERION}:3", "--keywords",
                       f"{CRITERION}=red,green,blue", "--out", str(out), "--cache", str(cache), *model_args(tiny)],
                      capsys)
    assert code == EXIT_OK
    correct_by_hand(out)

    summary = learn(out, cache, capsys)

    assert summary["criteria"][0]["retrained"]
    jpeg, raw = (next((out / CRITERION).glob(f"*/IMG_0001.{ext}")) for ext in ("JPG", "DNG"))
    assert jpeg.parent == raw.parent  # a RAW goes wherever its JPEG goes, after learning too
    rows = {Path(r["source"]).name: r for r in manifest(out).values()}
    assert rows["IMG_0001.DNG"]["cluster_id"] == rows["IMG_0001.JPG"]["cluster_id"]
