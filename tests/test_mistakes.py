"""Every mistake a user can make on the command line is answered with one sentence and exit 1.

Run as a user runs it (a separate process), so "no traceback" is what the terminal shows.
A usage error exits 2, an interrupt 130, and a real bug still shows its traceback.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from esmc_desktop import cli
from esmc_desktop.cli import commands
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esmc_desktop.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def one_sentence(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The single `error:` line of a failed run (after the exit code and the absence of a traceback are checked)."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("mistakes") / "photos", 6)


def cluster(tiny, photos: Path | str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("cluster", str(photos), "--criterion", "color of the object:2", "--out", str(out), "--quiet",
               "--cache", str(out.parent / "cache"), *model_args(tiny), *extra)


def test_a_photo_folder_that_does_not_exist(tmp_path, tiny):
    line = one_sentence(cluster(tiny, tmp_path / "no" / "such" / "folder", tmp_path / "out"))
    assert "does not exist" in line and "folder that holds your photos" in line


def test_a_file_given_as_the_photo_folder(tmp_path, tiny, photos):
    line = one_sentence(cluster(tiny, next(photos.glob("*.png")), tmp_path / "out"))
    assert "is a file, not a folder" in line


def test_a_context_too_small_for_an_image_and_a_prompt(tmp_path, tiny, photos):
    line = one_sentence(cluster(tiny, photos, tmp_path / "out", "--n-ctx", "10"))
    assert "context of 10 tokens is too small" in line and "at least" in line


def test_an_output_that_is_an_existing_file_is_refused_before_any_photo_is_read(tmp_path, tiny, photos):
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    line = one_sentence(cluster(tiny, photos, mine))
    assert "is a file" in line
    assert mine.read_text() == "my notes"
    assert not (tmp_path / "cache").exists()  # the photo pass never started: no feature cache was opened


def test_a_model_file_that_is_not_a_model(tmp_path, tiny, photos):
    fake = tmp_path / "model.gguf"
    fake.write_text("a shopping list")
    result = run("cluster", str(photos), "--criterion", "color", "--out", str(tmp_path / "out"), "--quiet",
                 "--model", str(fake), "--mmproj", str(tiny.f16.mmproj))
    assert "not a GGUF" in one_sentence(result)


def test_undo_where_nothing_was_moved(tmp_path):
    assert "nothing to undo" in one_sentence(run("undo", str(tmp_path)))


def test_a_wrong_gpu_setting_is_a_usage_error_with_the_same_sentence(tmp_path, photos):
    result = run("cluster", str(photos), "--criterion", "color", "--out", str(tmp_path / "out"), "--gpu-layers", "lots")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'auto' or a number of layers" in result.stderr


def test_an_interrupted_run_exits_130_with_one_line(tmp_path, tiny):
    many = make_photos(tmp_path / "many", 60, size=600, fmt="jpg")
    proc = subprocess.Popen([sys.executable, "-m", "esmc_desktop.cli", "cluster", str(many), "--criterion",
                             "color of the object:2", "--keywords", "color of the object=red,green", "--out",
                             str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), *model_args(tiny)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "cache" / "features.sqlite").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted"


def test_a_bug_is_not_dressed_up_as_a_mistake(monkeypatch, tmp_path):
    def broken(args):
        return {}["no such key"]

    monkeypatch.setattr(commands, "cmd_undo", broken)
    with pytest.raises(KeyError):
        cli.main(["undo", str(tmp_path)])
