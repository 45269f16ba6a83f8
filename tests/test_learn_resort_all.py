"""`esmc-desktop learn OUT --resort-all`: the user says the clustering was mostly wrong, so learning re-sorts freely.

By default `learn` moves only the photos the corrections make doubtful, so a clustering that was mostly
right keeps what it had right. Where the user has looked at the photos and found most of them wrong,
`--resort-all` lets every untouched photo go where the retrained head and its look-alikes agree
(method.learn, `resort="all"`). The vectors cannot tell the two cases apart; the user can.

The shipped demo model sorts 60 demo-world photos by shape (held-out set 49) and gets 5 wrong; the user
moves those to their right folders. The default leaves every other photo where it was; re-sorting all
moves a right one too, which is why it is the user's choice and not the default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from esmc_desktop.demo.world import write_photo_folder
from tests.test_learn_keeps_right import CRITERION, mistakes, where

REPO = Path(__file__).resolve().parent.parent
SEED = 49


def cli(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))  # the shipped demo model, whatever is registered
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True)


def sorted_and_corrected(tmp_path: Path, shapes: dict[str, str], out: Path) -> tuple[dict[str, str], list[str]]:
    """Cluster the photos into `out`, then move every photo the model got wrong to its shape's folder, as a user
    would in a file manager. Returns (each shape's folder, the photos moved)."""
    run = cli(tmp_path, "cluster", tmp_path / "photos", "--criterion", f"{CRITERION}:5", "--keywords",
              f"{CRITERION}=circle,square,triangle,star,cross", "--out", out, "--cache", tmp_path / "cache",
              "--threads", "1", "--gpu-layers", "0", "--quiet")
    assert run.returncode == 0, run.stderr
    sorted_by_model = where(out)
    folder_of, wrong = mistakes(shapes, sorted_by_model)
    assert 0 < len(wrong) <= 6
    for photo in wrong:
        shutil.move(out / CRITERION / sorted_by_model[photo] / photo, out / CRITERION / folder_of[shapes[photo]] / photo)
    return folder_of, wrong


def test_resort_all_moves_photos_the_default_keeps_and_each_says_which_was_used(tmp_path):
    shapes = {path.name: spec.shape for path, spec in write_photo_folder(tmp_path / "photos", 60, seed=SEED)}
    kept, bold = tmp_path / "kept", tmp_path / "bold"
    folder_of, wrong = sorted_and_corrected(tmp_path, shapes, kept)
    assert sorted_and_corrected(tmp_path, shapes, bold) == (folder_of, wrong)  # the same clustering, read from cache
    before = where(kept)

    default = cli(tmp_path, "learn", kept, "--cache", tmp_path / "cache", "--json")
    resort_all = cli(tmp_path, "learn", bold, "--cache", tmp_path / "cache", "--resort-all")

    assert default.returncode == 0 and resort_all.returncode == 0, default.stderr + resort_all.stderr
    report = json.loads(default.stdout)
    assert report["resort"] == "doubtful" and report["criteria"][0]["moved"] == []
    assert where(kept) == before, "the default keeps what was right"
    after = where(bold)
    moved = sorted(p for p in after if after[p] != before[p] and p not in wrong)
    assert moved, "re-sorting all lets the retrained head move photos the default keeps"
    assert all(after[p] == folder_of[shapes[p]] for p in wrong), "the photos the user placed stay put"
    lines = resort_all.stdout.splitlines()
    assert lines[-1] == (f"{len(moved)} photo{'s' * (len(moved) != 1)} you did not touch "
                         f"{'was' if len(moved) == 1 else 'were'} re-sorted under {bold} (--resort-all: wherever "
                         "the retrained head and its look-alikes agreed); the ones you placed stayed")
    assert all(any(f"re-sorted {before[p]} -> {after[p]}" in line for line in lines) for p in moved)


def test_learn_help_says_what_resort_all_does_and_when_to_use_it(tmp_path):
    helped = cli(tmp_path, "learn", "--help")
    assert helped.returncode == 0 and "--resort-all" in helped.stdout
    text = " ".join(helped.stdout.split())
    assert "use when most of the photos were in the wrong cluster" in text
    assert "only photos your corrections make doubtful move" in text
