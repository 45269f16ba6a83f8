"""The user sees and chooses where a criterion is read, the head's alpha, and why K was chosen (command line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_mistakes import one_sentence
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent


def cluster(tiny, photos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(photos), "--criterion",
                           "color of the object", "--keywords", "color of the object=red,green,blue", "--out",
                           str(out), "--cache", str(out.parent / "cache"), "--quiet", *model_args(tiny), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("place") / "photos", 10)


def test_a_place_the_user_names_is_read_saved_and_said(tmp_path, tiny, photos):
    last = tiny.config.text_config.num_hidden_layers - 1
    result = cluster(tiny, photos, tmp_path / "out", "--target", f"{last}:object", "--json")
    assert result.returncode == 0, result.stderr
    c = json.loads(result.stdout)["criteria"][0]
    assert c["layer"] == last and c["localization_rule"] == "user"
    assert c["localization"] == f"layer {last}, token ' object': the place you chose"
    saved = json.loads((tmp_path / "out" / ".esmc" / "result.json").read_text())
    assert (saved["criteria"][0]["layer"], saved["criteria"][0]["position"]) == (c["layer"], c["position"])
    # another place is another reading: not the cached vectors of the first
    other = cluster(tiny, photos, tmp_path / "out2", "--target", "color of the object=0:#1", "--json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["criteria"][0]["layer"] == 0


@pytest.mark.parametrize("target, words", [
    ("99:object", "block 99 is not in this model"),
    ("1:banana", "has no token 'banana'; its tokens, as the model reads them:"),
    ("object", "a place to read is LAYER:TOKEN"),
    ("size of it=1:object", "--target names a criterion that was not given: size of it"),
])
def test_a_place_that_does_not_exist_gets_a_sentence(tmp_path, tiny, photos, target, words):
    assert words in one_sentence(cluster(tiny, photos, tmp_path / "out", "--target", target))


def test_alpha_is_checked_up_front_and_k_chosen_automatically_says_why(tmp_path, tiny, photos):
    assert "--alpha must be a share between 0 and 1" in one_sentence(
        cluster(tiny, photos, tmp_path / "bad", "--alpha", "1.5"))
    result = cluster(tiny, photos, tmp_path / "out", "--alpha", "0.5")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "chosen automatically" in line)
    assert "the highest silhouette" in line and "tried 2: " in line


def test_keywords_the_lens_cannot_tell_apart_are_named_with_what_was_done(tmp_path, tiny, photos):
    result = subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(photos), "--criterion",
                             "color of the object:2", "--keywords", "color of the object=qzx,qzy,red,green",
                             "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--quiet",
                             *model_args(tiny)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("  keywords: ")]
    assert any("'qzx' and 'qzy' start with the same piece" in n and "read as one" in n for n in notes), result.stdout
