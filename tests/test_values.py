"""Named values (`cluster --values`): the photos go into the values the user names, or `other`; a last '+'
discovers and names clusters among the rest. Through the CLI with the shipped demo model on its own world."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from esmc_desktop.cli import EXIT_INPUT, EXIT_OK, main
from esmc_desktop.demo.world import write_photo_folder
from esmc_desktop.method.keywords import keyword_token_ids, review_keywords
from esmc_desktop.method.values import OTHER, sort_into_values, value_notes
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES
from esmc_desktop.photos.scan import content_hash
from esmc_desktop.photos.xmp import HIERARCHICAL, read_keywords

COLOR = "color of the object"
NAMED = ["red", "green", "blue", "yellow", "purple"]  # orange is left out
MODEL = ["--model", str(DEMO_DIR / DEMO_FILES[0]), "--mmproj", str(DEMO_DIR / DEMO_FILES[1]), "--gpu-layers", "0",
         "--threads", "1"]


def run(args: list[str], capsys) -> tuple[int, dict]:
    code = main(args + ["--json", "--quiet"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def world(folder: Path, n: int, seed: int) -> dict[str, str]:
    """Demo-world photos; each photo's content hash -> its colour (for checking only)."""
    return {content_hash(path): spec.color for path, spec in write_photo_folder(folder, n, seed=seed, size=64)}


@pytest.fixture(scope="module")
def sorted_by_values(tmp_path_factory):
    """36 photos sorted into five named colours (orange left out), exported as copies."""
    root = tmp_path_factory.mktemp("values")
    truth = world(root / "photos", 36, seed=11)
    out, cache = root / "sorted", root / "cache"
    code = main(["cluster", str(root / "photos"), "--criterion", COLOR, "--values", f"{COLOR}={','.join(NAMED)}",
                 "--out", str(out), "--cache", str(cache), "--quiet", *MODEL])
    assert code == EXIT_OK
    return root, truth, out, cache


def folders_of(out: Path) -> dict[str, str]:
    """Each exported photo's content hash -> the folder it is in."""
    return {content_hash(p): p.parent.name for p in (out / COLOR).rglob("*.png")}


def test_photos_go_into_exactly_the_named_values_and_the_unnamed_one_into_other(sorted_by_values):
    _, truth, out, _ = sorted_by_values
    placed = folders_of(out)
    assert len(placed) == len(truth)
    assert {p.name for p in (out / COLOR).iterdir()} <= set(NAMED) | {OTHER}
    orange = [sha for sha, colour in truth.items() if colour == "orange"]
    named = [sha for sha, colour in truth.items() if colour != "orange"]
    assert orange, "the seed should give some orange photos"
    assert all(placed[sha] == OTHER for sha in orange)
    assert all(placed[sha] == truth[sha] for sha in named)  # the demo model reads colour surely


def test_new_photos_are_assigned_to_the_same_values_and_other(sorted_by_values, capsys):
    root, _, out, cache = sorted_by_values
    truth = world(root / "new", 12, seed=12)
    code, summary = run(["assign", str(root / "new"), "--result", str(out), "--cache", str(cache), "--dry-run",
                         *MODEL], capsys)
    assert code == EXIT_OK
    names = summary["criteria"][0]["clusters"]
    assert [c["name"] for c in names] == NAMED + [OTHER]
    for placed in summary["placed"]:
        sha = content_hash(Path(placed["source"]))
        assert placed["cluster_name"] == (truth[sha] if truth[sha] in NAMED else OTHER)


def test_tags_name_the_values(sorted_by_values, capsys, tmp_path):
    root, truth, _, cache = sorted_by_values
    photos = tmp_path / "photos"
    shutil.copytree(root / "photos", photos)
    code, _ = run(["cluster", str(photos), "--criterion", COLOR, "--values", f"{COLOR}={','.join(NAMED)}",
                   "--out", str(tmp_path / "tags"), "--cache", str(cache), "--mode", "tags", *MODEL], capsys)
    assert code == EXIT_OK
    for photo in photos.glob("*.png"):
        value = truth[content_hash(photo)]
        tags = read_keywords((photo.parent / f"{photo.name}.xmp").read_bytes())[HIERARCHICAL]
        assert tags == [f"ESMC|{COLOR}|{value if value in NAMED else OTHER}"]


def test_folders_the_user_names_among_the_values_are_values_after_learning(sorted_by_values, capsys, tmp_path):
    """`other` renamed to orange becomes a value; red renamed to crimson stays one; an added folder is one."""
    root, truth, _, cache = sorted_by_values
    mine = tmp_path / "sorted"  # an export of its own (the manifest knows where its files are)
    assert main(["cluster", str(root / "photos"), "--criterion", COLOR, "--values", f"{COLOR}={','.join(NAMED)}",
                 "--out", str(mine), "--cache", str(cache), "--quiet", *MODEL]) == EXIT_OK
    capsys.readouterr()
    (mine / COLOR / OTHER).rename(mine / COLOR / "orange")
    (mine / COLOR / "red").rename(mine / COLOR / "crimson")
    purple = sorted((mine / COLOR / "purple").iterdir())
    (mine / COLOR / "violet").mkdir()
    shutil.move(purple[0], mine / COLOR / "violet" / purple[0].name)  # one purple photo the user calls violet
    code = main(["learn", str(mine), "--cache", str(cache), "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)["criteria"][0]
    assert code == EXIT_OK
    assert sorted(report["renamed"]) == [[OTHER, "orange"], ["red", "crimson"]] and report["added"] == ["violet"]
    saved = json.loads((mine / ".esmc" / "result.json").read_text())["criteria"][0]
    named = ["crimson", "green", "blue", "yellow", "purple", "orange", "violet"]
    assert saved["names"] == named and saved["values"] == named
    renamed = {"red": "crimson", "orange": "orange"}
    expected = {sha: renamed.get(colour, colour) for sha, colour in truth.items()}
    expected[content_hash(mine / COLOR / "violet" / purple[0].name)] = "violet"
    assert folders_of(mine) == expected  # nothing the user did not touch moved out of its value


def test_a_trailing_plus_keeps_the_named_values_and_names_clusters_found_among_the_rest(tmp_path, capsys):
    truth = world(tmp_path / "photos", 36, seed=11)
    code, summary = run(["cluster", str(tmp_path / "photos"), "--criterion", COLOR, "--values", f"{COLOR}=red,green,+",
                         "--out", str(tmp_path / "sorted"), "--cache", str(tmp_path / "cache"), *MODEL], capsys)
    assert code == EXIT_OK
    crit = summary["criteria"][0]
    assert crit["values"] == ["red", "green"] and crit["discover"]
    names = [c["name"] for c in crit["clusters"]]
    assert names[:2] == ["red", "green"]
    placed = folders_of(tmp_path / "sorted")
    for sha, colour in truth.items():
        folder = placed[sha]
        if colour in ("red", "green"):
            assert folder == colour
        else:  # a found cluster, named from its photos' lens words: its colour's word comes first
            assert folder not in ("red", "green") and folder.split()[0] == colour

    # the saved head is the rule and the found clusters' head together: the same photos go to the same folders
    code, again = run(["assign", str(tmp_path / "photos"), "--result", str(tmp_path / "sorted"), "--cache",
                       str(tmp_path / "cache"), "--dry-run", *MODEL], capsys)
    assert code == EXIT_OK
    assert {content_hash(Path(p["source"])): p["cluster_name"] for p in again["placed"]} == placed


def test_values_and_keywords_on_one_criterion_or_no_value_at_all_are_refused_with_a_sentence(tmp_path, capsys):
    world(tmp_path / "photos", 4, seed=1)
    base = ["cluster", str(tmp_path / "photos"), "--criterion", COLOR, "--out", str(tmp_path / "o"), *MODEL]
    assert main(base + ["--values", f"{COLOR}=red,blue", "--keywords", f"{COLOR}=red,blue"]) == EXIT_INPUT
    assert "give only the values" in capsys.readouterr().err
    assert main(base + ["--values", f"{COLOR}=,+"]) == EXIT_INPUT
    assert "no value in" in capsys.readouterr().err
    assert main(base + ["--values", "size of the object=big,small"]) == EXIT_INPUT
    assert "not given" in capsys.readouterr().err


def test_values_the_model_cannot_tell_apart_are_said_with_a_suggestion(llama_vocab):
    ids = keyword_token_ids(["daisy", "daffodil", "BMW", "rose"], llama_vocab.tokenize, llama_vocab.token_text)
    notes = value_notes(review_keywords(ids, llama_vocab.token_text))
    assert any("'daisy' and 'daffodil'" in n and "cannot tell them apart" in n and "longer" in n for n in notes)
    assert sum("'daisy'" in n for n in notes) == 1  # said once
    assert any("'BMW'" in n and "starts many words" in n for n in notes)
    assert not any("'rose'" in n for n in notes)


def test_with_no_photo_reading_any_value_every_photo_goes_to_its_most_probable_one_and_it_is_said():
    from scipy import sparse

    X = sparse.csr_matrix(np.array([[0.1, 0.05, 0.85], [0.02, 0.08, 0.9]], np.float32))
    found = sort_into_values(X, {"a": [0], "b": [1]})
    assert found.labels.tolist() == [0, 1] and "no photo reads any of the values" in found.note


def test_one_value_sorts_into_it_and_other_and_says_where_the_criterion_is_read(tmp_path, capsys):
    truth = world(tmp_path / "photos", 8, seed=3)
    code, summary = run(["cluster", str(tmp_path / "photos"), "--criterion", COLOR, "--values", f"{COLOR}=red,other",
                         "--out", str(tmp_path / "sorted"), "--cache", str(tmp_path / "cache"), *MODEL], capsys)
    assert code == EXIT_OK
    crit = summary["criteria"][0]
    assert crit["values"] == ["red"] and "fewer than 2 of its values" in crit["localization"]
    assert [c["name"] for c in crit["clusters"]] == ["red", OTHER]
    assert sum(c["count"] for c in crit["clusters"]) == len(truth)
