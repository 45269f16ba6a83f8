"""Journals and manifests survive what happens to files: a torn line, a killed run's leftovers, odd names.

A move or tag export is made through the library on real files, then damaged as a crash or a
full disk damages it, then undone through `python -m esmc_desktop.cli undo`, as a user would.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.files import KEEP_DAMAGED, move_aside
from esmc_desktop.photos.export import ExportRow, export, sources
from esmc_desktop.photos.export_folder import ExportFolder
from esmc_desktop.photos.scan import content_hash, scan
from tests.test_pipeline import make_photos

REPO = Path(__file__).resolve().parent.parent
LATIN1 = b"caf\xe9-latin1.png"  # a name written by a Latin-1 system: not UTF-8


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def hashes(folder: Path) -> dict[bytes, str]:
    return {os.fsencode(p.relative_to(folder)): content_hash(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def moved(tmp_path: Path, n: int = 8, mode: str = "move", shape: bool = True) -> tuple[Path, Path, dict]:
    photos = make_photos(tmp_path / "photos", n)
    before = hashes(photos)
    found = sources(scan(photos).photos)
    rows = [ExportRow(p, "colour", i % 2, ["red", "blue"][i % 2], 0.9) for i, p in enumerate(found)]
    if shape:
        rows += [ExportRow(p, "shape", 0, "round", None) for p in found]
    export(rows, tmp_path / "out", mode=mode)
    return photos, tmp_path / "out", before


def cut(path: Path, n: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-n])


def test_undo_of_a_move_whose_journal_lost_its_last_40_bytes_restores_every_photo(tmp_path):
    photos, out, before = moved(tmp_path)
    cut(out / ".esmc" / "move-journal.jsonl", 40)
    done = run("undo", str(out))
    assert done.returncode == 0, done.stderr
    assert "restored 8 photos" in done.stdout
    assert hashes(photos) == before
    assert not list(out.rglob("*.png"))


def test_an_unreadable_last_line_is_said_and_its_photo_restored_through_the_manifest(tmp_path):
    photos, out, before = moved(tmp_path, shape=False)
    journal = out / ".esmc" / "move-journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:12])  # only '{"source": "' is left of it
    done = run("undo", str(out))
    assert done.returncode == 0, done.stderr
    assert "its last line was cut short" in done.stderr and "every photo is back" in done.stderr
    assert hashes(photos) == before and not list(out.rglob("*.png"))


def test_what_neither_journal_nor_manifest_names_is_kept_said_and_undo_exits_1(tmp_path):
    photos, out, before = moved(tmp_path, shape=False)
    journal = out / ".esmc" / "move-journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    last = json.loads(lines[-2])
    journal.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:12])
    (out / "manifest.json").unlink()  # lost too
    done = run("undo", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error = done.stderr.strip()
    assert error.startswith("error: restored 7 photos") and "its last line was cut short" in error, error
    assert "1 files are still in" in error and "compare them with your photos" in error
    lost = os.fsencode(Path(last["source"]).relative_to(photos))
    assert {k: v for k, v in hashes(photos).items()} == {k: v for k, v in before.items() if k != lost}
    left = list(out.rglob("*.png"))
    assert [content_hash(p) for p in left] == [before[lost]], "the photo only the torn line named is kept in OUT"


def test_a_damaged_line_in_the_middle_is_skipped_and_said(tmp_path):
    photos, out, before = moved(tmp_path)
    journal = out / ".esmc" / "move-journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines.insert(3, b"\x00\x00\x00 garbage")
    journal.write_bytes(b"\n".join(lines))
    done = run("undo", str(out))
    assert done.returncode == 0 and "line 4 is damaged" in done.stderr, done.stderr
    assert hashes(photos) == before, "every photo came back: the damaged line recorded nothing of them"


def test_undo_of_a_tag_export_whose_journal_lost_its_last_bytes_takes_every_keyword_back(tmp_path):
    photos, out, before = moved(tmp_path, mode="tags")
    cut(out / ".esmc" / "tags-journal.jsonl", 120)  # the keywords it added are gone from the line; its hashes not
    done = run("undo", str(out))
    assert done.returncode == 0, done.stderr
    assert hashes(photos) == before, "every sidecar we made is gone"


def test_undo_of_a_tag_export_with_an_unreadable_last_line_takes_back_the_rest_and_fails_with_a_sentence(tmp_path):
    photos, out, before = moved(tmp_path, mode="tags")
    journal = out / ".esmc" / "tags-journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:12])
    done = run("undo", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "took the keywords back out of 7 files, but not everything" in done.stderr, done.stderr
    assert "can't be told from what is left of the line" in done.stderr
    assert len(list(photos.rglob("*.xmp"))) == 1, "the sidecar of the torn line is the one left"


def test_learn_with_a_damaged_plan_of_re_sorts_says_so_and_moves_nothing(tmp_path):
    photos, out, _ = moved(tmp_path, mode="copy")
    (out / ".esmc" / "learn-pending.json").write_text('{"moves": [["a", "b"')
    tree = hashes(out)
    done = run("learn", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "learn-pending.json is damaged" in done.stderr and "Nothing was moved" in done.stderr, done.stderr
    assert {k: v for k, v in hashes(out).items() if b".esmc" not in k} == \
        {k: v for k, v in tree.items() if b".esmc" not in k}


def latin1_folder(tmp_path: Path) -> Path:
    photos = make_photos(tmp_path / "photos", 3)
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(os.path.join(os.fsencode(photos), LATIN1))
    return photos


@pytest.mark.skipif(sys.platform != "linux", reason="a name that is not UTF-8 needs a byte-named file system")
def test_a_name_that_is_not_utf8_is_kept_exactly_in_the_manifests_and_a_move_of_it_is_undone(tmp_path):
    photos = latin1_folder(tmp_path)
    before = hashes(photos)
    found = sources(scan(photos).photos)
    out = tmp_path / "out"
    export([ExportRow(p, "colour", 0, "red", 0.5) for p in found], out, mode="move")
    rows = json.loads((out / "manifest.json").read_text())
    odd = [r for r in rows if "source_fs" in r]
    assert len(odd) == 1 and base64.b64decode(odd[0]["source_fs"]) == os.path.join(os.fsencode(photos), LATIN1)
    assert odd[0]["source"].endswith("caf\\xe9-latin1.png"), "and a readable form of it"
    assert Path(odd[0]["destination"]).is_file(), "the copy got a name valid everywhere, and it is on disk"
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        csv_rows = [r for r in csv.DictReader(f) if r["source_fs"]]
    assert [base64.b64decode(r["source_fs"]) for r in csv_rows] == [base64.b64decode(odd[0]["source_fs"])]
    assert [os.fsencode(p.source) for p in ExportFolder(out).read_manifest() if "caf" in p.source] == \
        [base64.b64decode(odd[0]["source_fs"])], "read back, it names the original file"
    assert run("undo", str(out)).returncode == 0
    assert hashes(photos) == before


@pytest.mark.skipif(sys.platform != "linux", reason="a name that is not UTF-8 needs a byte-named file system")
def test_keywords_on_a_photo_with_a_name_that_is_not_utf8_are_taken_back(tmp_path):
    photos = latin1_folder(tmp_path)
    before = hashes(photos)
    found = sources(scan(photos).photos)
    export([ExportRow(p, "colour", 0, "red", 0.5) for p in found], tmp_path / "out", mode="tags")
    assert os.path.exists(os.path.join(os.fsencode(photos), LATIN1 + b".xmp"))
    done = run("undo", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert hashes(photos) == before


def test_undo_removes_what_a_killed_restore_left_beside_the_originals(tmp_path):
    photos, out, before = moved(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = photos / f".photo-001.png.{int(dead.stdout)}-139000.partial"
    leftover.write_bytes(b"half a photo")
    assert run("undo", str(out)).returncode == 0
    assert not leftover.exists() and hashes(photos) == before


def test_damaged_cache_copies_older_than_a_week_or_beyond_three_are_deleted(tmp_path):
    cache = tmp_path / "features.sqlite"
    week_ago = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 8 * 86400))
    old = tmp_path / f"features.sqlite.damaged-{week_ago}"
    old.write_bytes(b"old")
    recent = []
    for hours in (5, 4, 3, 2):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - hours * 3600))
        recent.append(tmp_path / f"features.sqlite.damaged-{stamp}")
        recent[-1].write_bytes(b"recent")
    other = tmp_path / "thumbs.damaged-20000101T000000Z"  # another cache's copy: not this one's to prune
    other.write_bytes(b"other")
    cache.write_bytes(b"damaged now")
    newest = move_aside(cache, "is a damaged feature cache (test)")
    kept = sorted(tmp_path.glob("features.sqlite.damaged-*"))
    assert len(kept) == KEEP_DAMAGED and newest in kept and recent[-1] in kept and recent[-2] in kept
    assert not old.exists() and other.exists()
