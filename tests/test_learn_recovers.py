"""A `learn` that was killed is carried out or rolled back by the next one, from its journal.

`esmc-desktop learn OUT` journals its planned re-sorts (OUT/.esmc/learn-pending.jsonl), then
writes the new manifest (the commit), then moves the files. A crash leaves one of two states:
the journal cut short and nothing committed, or the manifest committed and only some files
moved. Both are made here on a real export of the shipped demo model, as the crash leaves them,
and the next `learn` runs through `python -m esmc_desktop.cli`, as a user would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from esmc_desktop.demo.world import write_photo_folder
from esmc_desktop.photos.scan import content_hash

REPO = Path(__file__).resolve().parent.parent
CRITERION = "shape of the object"


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)


def tree(out: Path) -> dict[str, str]:
    """Photo path (relative to the export) -> content hash, outside the state folder."""
    return {str(p.relative_to(out)): content_hash(p) for p in sorted((out / CRITERION).rglob("*.png"))}


def manifest_places(out: Path) -> dict[str, str]:
    rows = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {row["sha256"]: row["destination"] for row in rows}


@pytest.fixture(scope="module")
def learnt(tmp_path_factory):
    """(env, export, cache, the export before learn, the export after it, re-sorts a crashed learn planned)."""
    tmp = tmp_path_factory.mktemp("learn")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp / "data"))  # the shipped demo model, whatever the user registered
    shapes = {path.name: spec.shape for path, spec in write_photo_folder(tmp / "photos", 60, seed=49)}
    out, cache = tmp / "sorted", tmp / "cache"
    done = run("cluster", str(tmp / "photos"), "--criterion", f"{CRITERION}:5", "--keywords",
               f"{CRITERION}=circle,square,triangle,star,cross", "--out", str(out), "--cache", str(cache),
               "--threads", "1", "--gpu-layers", "0", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    folder = {p.name: p.parent for p in (out / CRITERION).glob("*/*.png")}
    majority = {f: Counter(shapes[p] for p in folder if folder[p] == f).most_common(1)[0][0] for f in folder.values()}
    right = {shape: f for f, shape in majority.items()}
    for photo, f in folder.items():  # the user puts each wrong photo into its shape's folder
        if right[shapes[photo]] != f:
            shutil.move(f / photo, right[shapes[photo]] / photo)
    before = tmp / "before"
    shutil.copytree(out, before, symlinks=True)
    done = run("learn", str(out), "--cache", str(cache), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    finished = tmp / "finished"
    shutil.copytree(out, finished, symlinks=True)
    # The re-sorts the crashed learn planned: two photos the user did not touch, each to the next cluster folder.
    folders = sorted(p.relative_to(out) for p in (out / CRITERION).iterdir())
    photos = [p.relative_to(out) for p in sorted((out / CRITERION).glob("*/*.png")) if p.name in folder
              and (out / CRITERION / folder[p.name].name / p.name).exists()]
    resorts = []
    for path in (photos[0], photos[-1]):
        to = folders[(folders.index(path.parent) + 1) % len(folders)] / path.name
        resorts.append((str(path), str(to), content_hash(out / path)))
    return env, out, cache, before, finished, resorts

def commit(out: Path, resorts) -> None:
    """Write the manifest as the crashed learn committed it: it names each re-sorted photo's new place."""
    rows = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    to = {sha: b for _, b, sha in resorts}
    for row in rows:
        if row["sha256"] in to:
            row["destination"] = str(out / to[row["sha256"]])
            row["cluster_name"] = Path(to[row["sha256"]]).parent.name
            row["cluster_id"] = next(r["cluster_id"] for r in rows if Path(r["destination"]).parent.name
                                     == row["cluster_name"] and r["sha256"] not in to)
    (out / "manifest.json").write_text(json.dumps(rows), encoding="utf-8")


def restore(out: Path, snapshot: Path) -> None:
    """Put the export back as `snapshot` holds it (same absolute paths, so the manifest names them)."""
    shutil.rmtree(out)
    shutil.copytree(snapshot, out, symlinks=True)


def journal(out: Path, resorts, torn: bool = False) -> Path:
    """The journal of planned re-sorts as a killed learn leaves it; `torn`: its last line cut short."""
    path = out / ".esmc" / "learn-pending.jsonl"
    lines = [json.dumps({"criteria": [str(out / CRITERION)]})]
    lines += [json.dumps({"sha256": sha, "from": str(out / a), "to": str(out / b)}) for a, b, sha in resorts]
    text = "\n".join(lines) + "\n"
    path.write_text(text[:-len(lines[-1]) // 2] if torn else text, encoding="utf-8")
    return path


def test_a_learn_killed_while_journaling_its_plan_is_rolled_back_and_learnt_again(learnt):
    env, out, cache, before, finished, resorts = learnt
    restore(out, before)
    journal(out, resorts, torn=True)
    done = run("learn", str(out), "--cache", str(cache), env=env)
    assert done.returncode == 0, done.stderr
    assert "rolled back" in done.stderr and "its last line was cut short" in done.stderr, done.stderr
    assert tree(out) == tree(finished), "the learning was done again, as if nothing had been interrupted"
    assert not (out / ".esmc" / "learn-pending.jsonl").exists()


def test_a_learn_killed_while_re_sorting_is_finished_by_the_next_one(learnt):
    env, out, cache, before, finished, resorts = learnt
    restore(out, finished)
    commit(out, resorts)
    os.rename(out / resorts[0][0], out / resorts[0][1])  # it had moved the first photo, not the second
    journal(out, resorts)
    done = run("learn", str(out), "--cache", str(cache), env=env)
    assert done.returncode == 0, done.stderr
    assert f"finished ({len(resorts)} re-sorts)" in done.stderr, done.stderr
    assert Counter(tree(out).values()) == Counter(tree(finished).values()), "no photo lost or doubled"
    places = manifest_places(out)
    assert all(Path(places[sha]) == out / path for path, sha in tree(out).items()), "each photo where the manifest says"
    assert all((out / b).exists() for _, b, _ in resorts), "the photos the user did not touch stay where it put them"


def test_a_re_sort_whose_place_is_taken_is_named_and_nothing_is_overwritten(learnt):
    env, out, cache, before, finished, resorts = learnt
    restore(out, finished)
    commit(out, resorts)
    a, b, sha = resorts[0]
    (out / b).write_bytes(b"the user's own file")
    path = journal(out, resorts)
    done = run("learn", str(out), "--cache", str(cache), env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "could not go to" in done.stderr and Path(b).name in done.stderr, done.stderr
    assert (out / b).read_bytes() == b"the user's own file" and content_hash(out / a) == sha
    assert path.exists(), "kept, so the next learn carries it out"

    (out / b).unlink()  # the user moves their file out of the way
    done = run("learn", str(out), "--cache", str(cache), env=env)
    assert done.returncode == 0 and "finished" in done.stderr, done.stderr
    assert content_hash(out / b) == sha and not path.exists()
