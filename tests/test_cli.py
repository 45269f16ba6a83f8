"""The command line as a user meets it: `--help` without the heavy modules, each command with its own
options and only those, where assign put each photo, counts in words, and --quiet that is quiet.

Run as a user runs it: `python -m esmc_desktop.cli` in a separate process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import llama_cpp
import pytest
from PIL import Image

from esmc_desktop.mllm.gpu import gpu_install_command
from esmc_desktop.photos.export import safe_name
from models.tiny_llava import sample_image
from tests.test_pipeline import make_photos

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "sklearn", "llama_cpp", "onnx", "onnxruntime", "PySide6", "gguf", "PIL", "torch", "tqdm")
CRITERION = "color of the object"
# The least each command needs to parse, so that what is refused is the option under test alone.
REQUIRED = {
    "inspect": ["--image", "a.png", "--prompt", "The color is"], "cluster": ["photos", "--criterion", "c", "--out", "o"],
    "assign": ["photos", "--result", "r"], "gui": [], "demo": [], "bench": ["dataset"], "learn": ["out"],
    "undo": ["out"], "doctor": [], "models check": ["lm.gguf", "mmproj.gguf"], "models repair-mmproj": ["a", "b"],
    "models list": [], "models add": ["name", "lm.gguf", "mmproj.gguf"], "models remove": ["name"],
    "models default": ["name"], "models pull": [],
}


def cli(*args: str | Path, imports: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m esmc_desktop.cli ARGS`; with `imports`, Python lists every module it imported on stderr."""
    python = [sys.executable, "-X", "importtime"] if imports else [sys.executable]
    return subprocess.run([*python, "-m", "esmc_desktop.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=env)


def subcommands(help_text: str) -> list[str]:
    """The commands a --help lists under COMMAND or ACTION."""
    return re.findall(r"^    ([a-z][a-z-]*)\s", help_text, re.MULTILINE)


def options(help_text: str) -> set[str]:
    """The options a --help lists (each at the start of its line), --help itself left out."""
    return set(re.findall(r"^  (?:-\w, )?(--[a-z][a-z-]*)", help_text, re.MULTILINE)) - {"--help"}


@pytest.fixture(scope="module")
def helps() -> dict[str, tuple[str, set[str]]]:
    """Every command's --help, run on its own: its text and the modules Python imported for it."""
    found = {}
    todo = [""]
    while todo:
        command = todo.pop()
        run = cli(*command.split(), "--help", imports=True)
        assert run.returncode == 0, run.stderr
        imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
        found[command] = (run.stdout, imported)
        todo += [f"{command} {sub}".strip() for sub in subcommands(run.stdout)]
    return found


def test_help_of_every_command_imports_none_of_the_heavy_modules(helps):
    assert {"", "cluster", "assign", "models", "models pull", "doctor"} <= set(helps)
    for command, (_, imported) in helps.items():
        heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
        assert heavy == [], f"`esmc-desktop {command} --help` imports {heavy}"


def test_each_command_refuses_every_option_it_does_not_list(helps):
    commands = {c: options(text) for c, (text, _) in helps.items() if c not in ("", "models")}
    assert set(commands) == set(REQUIRED), "a command was added or removed: list what it needs in REQUIRED"
    every = set().union(*commands.values())
    for command, listed in commands.items():
        foreign = sorted(every - listed)
        run = cli(*command.split(), *REQUIRED[command], *(f"{option}=1" for option in foreign))
        assert run.returncode == 2 and "Traceback" not in run.stderr, (command, run.stderr)
        refused = run.stderr.split("unrecognized arguments:")[1].split()
        assert refused == [f"{option}=1" for option in foreign], command


def test_options_that_would_do_nothing_are_not_listed_and_quiet_and_json_are_where_they_mean_something(helps):
    listed = {c: options(text) for c, (text, _) in helps.items()}
    assert not {"--localization", "--search", "--samples", "--seed", "--template"} & listed["assign"]
    assert "--quiet" not in listed["gui"]
    for command in ("inspect", "cluster", "assign", "demo", "bench", "learn", "models pull"):
        assert "--quiet" in listed[command], command
    for command in ("inspect", "cluster", "assign", "learn", "undo", "models list", "models check"):
        assert "--json" in listed[command], command


def test_an_abbreviated_option_is_refused_not_taken_for_a_longer_one():
    run = cli("inspect", *REQUIRED["inspect"], "--mode", "copy")  # not --model
    assert run.returncode == 2 and "unrecognized arguments: --mode copy" in run.stderr


def test_models_list_json_names_each_pair_and_the_default(tmp_path):
    listed = cli("models", "list", "--json", env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    (demo,) = json.loads(listed.stdout)["models"]  # a fresh user: the shipped demo model alone, the default
    assert demo["name"] == "demo" and demo["default"] is True and Path(demo["lm"]).is_file()
    assert Path(demo["mmproj"]).is_file() and demo["fingerprint"]


def model(tiny, gpu: str = "0") -> list[str]:
    return ["--model", str(tiny.f16.quantized), "--mmproj", str(tiny.f16.mmproj), "--gpu-layers", gpu,
            "--threads", "1"]


def cluster(tiny, photos: Path, out: Path, cache: Path, *extra: str, gpu: str = "0") -> subprocess.CompletedProcess:
    run = cli("cluster", photos, "--criterion", f"{CRITERION}:2", "--keywords", f"{CRITERION}=red,green,blue",
              "--out", out, "--cache", cache, "--samples", "4", *model(tiny, gpu), *extra)
    assert run.returncode == 0, run.stderr
    return run


def bar(stderr: str, stage: str) -> str:
    """The last state of a stage's progress bar as the terminal shows it."""
    return [part for part in re.split(r"[\r\n]", stderr) if part.startswith(stage + ":")][-1]


def test_quiet_prints_the_summary_alone_counts_agree_in_number_and_cached_photos_show_no_speed(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 8)
    (photos / "broken.jpg").write_bytes(b"not a photo at all")
    cache = tmp_path / "cache"

    first = cluster(tiny, photos, tmp_path / "a", cache)
    assert re.search(r"\d photo/s|s/photo", bar(first.stderr, "reading photos"))  # photos the model ran
    assert "model: " in first.stderr and "running on the CPU" in first.stderr
    assert re.search(r"^skipped .*broken\.jpg: ", first.stderr, re.MULTILINE)
    assert first.stdout.splitlines()[-1].startswith("8 photos sorted by model ")
    assert ", 1 file skipped; placed 8 files under " in first.stdout.splitlines()[-1]

    again = cluster(tiny, photos, tmp_path / "b", cache, gpu="auto")  # every photo from the cache, one unreadable
    reading = bar(again.stderr, "reading photos")
    assert "9/9" in reading and "photo/s" not in reading and "s/photo" not in reading
    if not llama_cpp.llama_supports_gpu_offload():  # a CPU-only build: is there a GPU to advise a build for?
        command = gpu_install_command()
        assert ("CMAKE_ARGS" in again.stderr) == (command is not None)
        assert command is not None or "Vulkan" not in again.stderr and "VULKAN" not in again.stderr

    quiet = cluster(tiny, photos, tmp_path / "c", cache, "--quiet", gpu="auto")
    assert quiet.stderr == ""
    assert quiet.stdout == again.stdout.replace(str(tmp_path / "b"), str(tmp_path / "c"))


def test_assign_says_per_criterion_how_many_photos_went_to_each_cluster_and_json_which_went_where(tmp_path, tiny):
    out, cache = tmp_path / "sorted", tmp_path / "cache"
    made = json.loads(cluster(tiny, make_photos(tmp_path / "photos", 8), out, cache, "--json", "--quiet").stdout)
    names = [c["name"] for c in made["criteria"][0]["clusters"]]
    new = tmp_path / "new"
    new.mkdir()
    for i in range(5):
        Image.fromarray(sample_image(100 + i)).save(new / f"new-{i}.png")
    common = ["--cache", cache, "--gpu-layers", "0", "--threads", "1", "--quiet"]

    shown = cli("assign", new, "--result", out, "--dry-run", *common)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == CRITERION and len(lines) == 1 + len(names) + 1
    counts = {name: int(count) for count, name in (line.split(maxsplit=1) for line in lines[1:-1])}
    assert set(counts) == set(names) and sum(counts.values()) == 5
    assert lines[-1] == f"5 photos, 0 files skipped; would place 5 files under {out} (copy)"
    assert not list(out.rglob("new-*.png"))

    run = cli("assign", new, "--result", out, "--json", *common)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    summary = json.loads(run.stdout)
    clusters = summary["criteria"][0]["clusters"]
    assert summary["criteria"][0]["criterion"] == CRITERION
    assert [c["name"] for c in clusters] == names and {c["name"]: c["count"] for c in clusters} == counts
    placed = summary["placed"]
    assert sorted(Path(p["source"]).name for p in placed) == [f"new-{i}.png" for i in range(5)]
    for p in placed:
        destination = Path(p["destination"])
        assert destination.is_file() and destination.parent == out / CRITERION / safe_name(p["cluster_name"])
        assert p["criterion"] == CRITERION and names[p["cluster_id"]] == p["cluster_name"]
    assert Counter(p["cluster_name"] for p in placed) == +Counter(counts)

    learned = cli("learn", out, "--cache", cache, "--quiet")  # nothing was corrected: one line, nothing re-sorted
    assert learned.returncode == 0 and learned.stderr == "", learned.stderr
    assert learned.stdout.splitlines() == [f"0 photos you did not touch were re-sorted under {out}; the ones you "
                                           "placed stayed"]


def test_assign_reads_each_photo_once_a_photo_already_read_is_sorted_from_the_feature_cache(tmp_path, tiny):
    out, cache = tmp_path / "sorted", tmp_path / "cache"
    cluster(tiny, make_photos(tmp_path / "photos", 8), out, cache, "--quiet")
    new = tmp_path / "new"
    new.mkdir()
    for i in range(3):
        Image.fromarray(sample_image(200 + i)).save(new / f"new-{i}.png")
    common = ["--result", out, "--cache", cache, "--gpu-layers", "0", "--threads", "1", "--quiet", "--json"]

    looked = json.loads(cli("assign", new, "--dry-run", *common).stdout)
    placed = cli("assign", new, *common)

    assert placed.returncode == 0 and placed.stderr == "", placed.stderr
    summary = json.loads(placed.stdout)
    assert looked["model_evaluations"] == 3 and summary["model_evaluations"] == 0  # the dry run's readings are reused
    assert summary["criteria"] == looked["criteria"]
    where = {(Path(p["source"]).name, p["cluster_name"]) for p in summary["placed"]}
    assert where == {(Path(p["source"]).name, p["cluster_name"]) for p in looked["placed"]}
    assert all(Path(p["destination"]).is_file() for p in summary["placed"])
