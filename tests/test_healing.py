"""Caches are derived data: a damaged one costs time, never the run, and is kept aside, never deleted.

Damage as it happens: garbage bytes where the file should be, or a file cut short by a
crash or a full disk.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.mllm.prompts import LLAVA_V1
from esmc_desktop.photos.cache import FeatureCache, VectorKey
from esmc_desktop.photos.thumbnails import ThumbnailCache
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent
KEY = VectorKey("model", LLAVA_V1.key, "The color is", 3, 2, "top50-raw")


def garbage(path: Path) -> bytes:
    data = b"\x00\xffnot a cache at all " * 500
    path.write_bytes(data)
    return data


def cut_in_half(path: Path) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return data[: len(data) // 2]


def aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


def filled_cache(folder: Path, photos: int = 400) -> Path:
    with FeatureCache(folder) as cache:
        for n in range(photos):
            cache.put_photo(f"{n:064x}", {KEY: (np.arange(50, dtype=np.int32), np.full(50, 0.02, np.float32))})
    return folder / "features.sqlite"


@pytest.mark.parametrize("damage", [garbage, cut_in_half])
def test_a_damaged_feature_cache_is_moved_aside_and_a_new_one_started(tmp_path, caplog, damage):
    db = filled_cache(tmp_path)
    old = damage(db)
    with caplog.at_level(logging.WARNING, logger="esmc_desktop"):
        with FeatureCache(tmp_path) as cache:
            assert cache.count_vectors() == 0
            cache.put_photo("ab" * 32, {KEY: (np.arange(50, dtype=np.int32), np.full(50, 0.02, np.float32))})
            assert cache.get("ab" * 32, KEY) is not None
    [kept] = aside(db)
    assert kept.read_bytes() == old
    assert len(caplog.records) == 1 and "damaged feature cache" in caplog.records[0].getMessage()
    with caplog.at_level(logging.WARNING, logger="esmc_desktop"):
        FeatureCache(tmp_path).close()  # the new one is sound: nothing more is moved
    assert len(aside(db)) == 1 and len(caplog.records) == 1


@pytest.mark.parametrize("damage", [garbage, cut_in_half])
def test_a_run_on_a_damaged_feature_cache_succeeds_and_says_so_in_one_line(tmp_path, tiny, damage):
    photos = make_photos(tmp_path / "photos", 8)
    cache = tmp_path / "cache"

    def sort(out: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(photos), "--criterion",
                               "color of the object:2", "--keywords", "color of the object=red,green", "--out",
                               str(tmp_path / out), "--cache", str(cache), "--json", *model_args(tiny)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)

    first = sort("a")
    assert first.returncode == 0, first.stderr
    old = damage(cache / "features.sqlite")
    again = sort("b")
    assert again.returncode == 0, again.stderr
    notes = [line for line in again.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "damaged feature cache" in notes[0] and "Traceback" not in again.stderr
    assert [p.read_bytes() for p in aside(cache / "features.sqlite")] == [old]
    assert json.loads(again.stdout)["model_evaluations"] > 0  # recomputed into the new cache
    manifest = {tuple(r[k] for k in ("sha256", "criterion", "cluster_id"))
                for r in json.loads((tmp_path / "b" / "manifest.json").read_text())}
    assert manifest == {tuple(r[k] for k in ("sha256", "criterion", "cluster_id"))
                        for r in json.loads((tmp_path / "a" / "manifest.json").read_text())}


@pytest.mark.parametrize("damage", [garbage, cut_in_half])
def test_a_damaged_thumbnail_is_moved_aside_and_made_again(tmp_path, damage):
    photo = make_photos(tmp_path / "photos", 1) / "album" / "photo-000.png"
    thumbnails = ThumbnailCache(tmp_path / "thumbnails", size=32)
    made = thumbnails.thumbnail(photo, "ab" * 32)
    good = made.read_bytes()
    old = damage(made)
    again = thumbnails.thumbnail(photo, "ab" * 32)
    assert again == made and again.read_bytes() == good
    assert Image.open(again).size == (32, 32)
    assert [p.read_bytes() for p in aside(made)] == [old]


def test_a_file_where_the_thumbnail_folder_should_be_is_moved_aside(tmp_path):
    photo = make_photos(tmp_path / "photos", 1) / "album" / "photo-000.png"
    (tmp_path / "thumbnails").write_text("not a folder")
    made = ThumbnailCache(tmp_path / "thumbnails", size=32).thumbnail(photo, "cd" * 32)
    assert made.is_file() and [p.read_text() for p in aside(tmp_path / "thumbnails")] == ["not a folder"]
