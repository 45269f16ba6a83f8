"""Discover, then name: a cluster found among the photos that read none of the named values is made a value, or
merged into one, through the app layer; export writes it (folders, tags, saved head) and `assign` sorts new photos
the same way. Real runs of the shipped demo model on its own world."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from esmc_desktop.app.assign import assign_photos
from esmc_desktop.app.export import export_result
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.options import GpuLayers
from esmc_desktop.app.sort import ComputeRequest, Criterion, sort_photos
from esmc_desktop.app.values import make_value, merge_cluster, undo_merge
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES
from esmc_desktop.photos.scan import content_hash
from esmc_desktop.photos.xmp import HIERARCHICAL, read_keywords
from tests.test_values import world

COLOR = "color of the object"
MODEL = ModelFiles(DEMO_DIR / DEMO_FILES[0], DEMO_DIR / DEMO_FILES[1])
CPU = ComputeRequest(GpuLayers(0), threads=1)


@pytest.fixture(scope="module")
def sorted_red_green_rest(tmp_path_factory):
    """36 photos: red and green named, the rest discovered (each colour a cluster named by its word)."""
    root = tmp_path_factory.mktemp("edits")
    truth = world(root / "photos", 36, seed=11)
    criteria = [Criterion(COLOR, values=("red", "green"), discover=True)]
    return root, truth, criteria


def sort(root: Path, criteria) -> object:
    return sort_photos(root / "photos", criteria, MODEL, compute=CPU, cache_dir=root / "cache")


def cluster_named(crit, word: str) -> int:
    return next(k for k, name in enumerate(crit.names) if name.split()[0] == word)


def colours_in(result, crit, cluster: int, truth: dict[str, str]) -> set[str]:
    return {truth[result.photos[i].sha256] for i in crit.members(cluster)}


def test_a_discovered_cluster_made_a_value_keeps_its_photos_and_is_a_value_on_export(sorted_red_green_rest, tmp_path):
    root, truth, criteria = sorted_red_green_rest
    result = sort(root, criteria)
    crit = result.criterion(0)
    blue = cluster_named(crit, "blue")
    assert not crit.is_value(blue) and crit.is_value(0)
    held = crit.members(blue)

    make_value(result, 0, blue, "Blue things")
    assert crit.is_value(blue) and crit.names[blue] == "Blue things" and crit.members(blue) == held
    with pytest.raises(EsmcError, match="a value already"):
        make_value(result, 0, blue)

    export_result(result, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / ".esmc" / "result.json").read_text())["criteria"][0]
    assert saved["values"] == ["red", "green", "Blue things"]
    exported = {content_hash(p) for p in (tmp_path / "out" / COLOR / "Blue things").iterdir()}
    assert exported == {result.photos[i].sha256 for i in held}


def test_a_discovered_cluster_merged_into_a_value_joins_it_in_folders_tags_and_assign(sorted_red_green_rest,
                                                                                       tmp_path):
    root, truth, criteria = sorted_red_green_rest
    result = sort(root, criteria)
    crit = result.criterion(0)
    orange = cluster_named(crit, "orange")
    red = crit.names.index("red")
    orange_name, n_orange, n_red = crit.names[orange], len(crit.members(orange)), len(crit.members(red))
    assert n_orange > 0 and colours_in(result, crit, orange, truth) == {"orange"}

    merge = merge_cluster(result, 0, orange, red)
    assert merge.exact and merge.photos == n_orange and "new photos read like them go to it" in merge.sentence
    assert orange_name not in crit.names and crit.names[:2] == ["red", "green"]
    assert colours_in(result, crit, red, truth) == {"red", "orange"} and len(crit.members(red)) == n_red + n_orange
    assert not crit.placed  # a merge decides for a cluster, not photo by photo

    out = tmp_path / "out"
    export_result(result, out)
    folders = {content_hash(p): p.parent.name for p in (out / COLOR).rglob("*.png")}
    assert all(folders[sha] == "red" for sha, colour in truth.items() if colour in ("red", "orange"))
    assert not (out / COLOR / orange_name).exists()

    # new photos: orange ones go to red, as the merged ones did; the other colours where they went before
    new = world(tmp_path / "new", 24, seed=12)
    report = assign_photos(tmp_path / "new", out, compute=CPU, cache_dir=root / "cache", dry_run=True)
    names = report.criteria[0].names
    for photo, cluster in zip(report.photos, report.criteria[0].labels):
        colour = new[photo.sha256]
        if colour in ("red", "orange", "green"):
            assert names[cluster] == ("green" if colour == "green" else "red")
        else:
            assert names[cluster].split()[0] == colour

    # tags: the merged photos carry the value's keyword
    photos = tmp_path / "tagged"
    shutil.copytree(root / "photos", photos)
    tagged = sort_photos(photos, criteria, MODEL, compute=CPU, cache_dir=root / "cache")
    c = tagged.criterion(0)
    merge_cluster(tagged, 0, cluster_named(c, "orange"), c.names.index("red"))
    export_result(tagged, tmp_path / "tags", mode="tags")
    for photo in photos.glob("*.png"):
        if truth[content_hash(photo)] == "orange":
            assert read_keywords((photo.parent / f"{photo.name}.xmp").read_bytes())[HIERARCHICAL] == \
                [f"ESMC|{COLOR}|red"]


def test_a_merge_is_undone_while_it_is_the_last_change(sorted_red_green_rest):
    root, truth, criteria = sorted_red_green_rest
    result = sort(root, criteria)
    crit = result.criterion(0)
    names, labels = list(crit.names), list(crit.labels)
    merge = merge_cluster(result, 0, cluster_named(crit, "orange"), crit.names.index("green"))
    undo_merge(result, merge)
    back = result.criterion(0)
    assert back.names == names and back.labels == labels

    merge = merge_cluster(result, 0, cluster_named(back, "orange"), back.names.index("green"))
    result.move(0, back.members(back.names.index("green"))[0], back.names.index("red"))
    with pytest.raises(EsmcError, match="can no longer be undone"):
        undo_merge(result, merge)


def test_a_second_merge_into_a_value_makes_the_photos_placements_that_learning_teaches(sorted_red_green_rest):
    root, truth, criteria = sorted_red_green_rest
    result = sort(root, criteria)
    crit = result.criterion(0)
    assert merge_cluster(result, 0, cluster_named(crit, "orange"), crit.names.index("red")).exact
    blue = cluster_named(crit, "blue")
    held = crit.members(blue)
    second = merge_cluster(result, 0, blue, crit.names.index("red"))
    assert not second.exact and "Apply corrections" in second.sentence
    assert set(held) <= crit.placed and all(crit.labels[i] == crit.names.index("red") for i in held)
    assert crit.weights.w2.shape[1] == len(crit.names)  # the head still has one output per cluster


def test_merging_a_value_or_into_a_cluster_that_is_no_value_is_refused_in_words(sorted_red_green_rest):
    root, truth, criteria = sorted_red_green_rest
    result = sort(root, criteria)
    crit = result.criterion(0)
    orange, blue = cluster_named(crit, "orange"), cluster_named(crit, "blue")
    with pytest.raises(EsmcError, match="is a value"):
        merge_cluster(result, 0, crit.names.index("red"), crit.names.index("green"))
    with pytest.raises(EsmcError, match="is not a value"):
        merge_cluster(result, 0, orange, blue)
    with pytest.raises(EsmcError, match="has no cluster"):
        merge_cluster(result, 0, 99, 0)
