"""One Ctrl+C stops the program in every phase: one line, exit status 130, no traceback, nothing left half-done.

Real SIGINTs to `python -m esmc_desktop.cli`. Nothing here waits a fixed time: a signal is sent
when the program has said where it is (a progress line on stderr), or from inside the program
at a chosen point (a start-up hook that sends the signal to its own process). The stderr pipe
is made small and the test stops reading it once the phase it wants has begun, so the program
blocks in that phase instead of racing through it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from esmc_desktop.cli import main
from esmc_desktop.mllm.runtime import LlavaRuntime
from esmc_desktop.photos.scan import content_hash
from tests.test_pipeline import make_photos, model_args

REPO = Path(__file__).resolve().parent.parent
F_SETPIPE_SZ = 1031  # Linux: the smallest pipe (one page) fills after a few progress lines
needs_linux = pytest.mark.skipif(sys.platform != "linux", reason="sizes the stderr pipe with Linux's F_SETPIPE_SZ")

# Sends SIGINT to its own process at a chosen moment (a start-up hook, so the command line is the user's).
TRIGGER = textwrap.dedent("""\
    import logging, os, signal, sys

    WHEN = os.environ.get("ESMC_TEST_SIGINT")

    def interrupt():
        global WHEN
        WHEN = None
        os.kill(os.getpid(), signal.SIGINT)

    if WHEN == "import":  # while the command line program imports its modules
        class Finder:
            def find_spec(self, name, path=None, target=None):
                if WHEN and name == "argparse":
                    interrupt()
                return None
        sys.meta_path.insert(0, Finder())
    elif WHEN == "exec":  # inside an exec of a string, as scipy runs one to import numpy's names
        def at_scipy(event, args):
            if WHEN and event == "import" and args[0] == "scipy":
                exec("interrupt()\\nwhile True: pass")
        sys.addaudithook(at_scipy)
    elif WHEN == "llama-log":  # inside llama.cpp's log callback, while the model loads
        class Once(logging.Handler):
            def emit(self, record):
                if WHEN:
                    interrupt()
        logger = logging.getLogger("esmc_desktop.llama_cpp")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Once())
""")


def start(args: list[str], tmp_path: Path, when: str | None = None) -> subprocess.Popen:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(TRIGGER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(REPO)])}
    if when:
        env["ESMC_TEST_SIGINT"] = when
    proc = subprocess.Popen([sys.executable, "-m", "esmc_desktop.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if sys.platform == "linux":
        fcntl.fcntl(proc.stderr.fileno(), F_SETPIPE_SZ, 4096)
    return proc


def read_until(proc: subprocess.Popen, marker: bytes) -> bytes:
    """stderr up to `marker` (a progress bar's name); then the test stops reading, so the program blocks soon."""
    seen = b""
    while marker not in seen:
        chunk = os.read(proc.stderr.fileno(), 512)
        assert chunk, f"the program ended before {marker!r}: {seen.decode(errors='replace')}"
        seen += chunk
    return seen


def interrupted(proc: subprocess.Popen, seen: bytes = b"", send: bool = True) -> str:
    """Send SIGINT (unless the program sends its own), wait for the end; the last line, after checking:
    exit 130, no traceback, nothing ignored."""
    if send:
        proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=300)
    err = (seen + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    return err.replace("\r", "\n").strip().splitlines()[-1]


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): content_hash(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def cluster_args(tiny, photos: Path, out: Path, *extra: str) -> list[str]:
    return ["cluster", str(photos), "--criterion", "color of the object:2", "--criterion", "shape of the object:2",
            "--keywords", "color of the object=red,green", "--keywords", "shape of the object=round,square",
            "--out", str(out), "--cache", str(out.parent / "cache"), *model_args(tiny), *extra]


def test_ctrl_c_while_the_program_starts_is_one_line_and_130(tmp_path):
    proc = start(["undo", str(tmp_path)], tmp_path, when="import")
    assert interrupted(proc, send=False) == "interrupted"


def test_ctrl_c_inside_llama_cpp_s_log_callback_while_the_model_loads_stops_the_run(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 6)
    out = tmp_path / "out"
    proc = start(cluster_args(tiny, photos, out, "--quiet"), tmp_path, when="llama-log")
    assert interrupted(proc, send=False) == "interrupted"
    assert not (tmp_path / "cache" / "features.sqlite").exists(), "it stopped before the photo pass"
    assert not out.exists(), "a run that wrote nothing leaves no output folder"


def test_ctrl_c_inside_a_library_s_exec_of_a_string_is_one_line_and_130(tmp_path):
    """CPython remembers an interrupt raised inside an exec of a string and, under `python -m`, would end the
    process by SIGINT (status -2) after "interrupted" was said."""
    proc = start(["cluster", str(make_photos(tmp_path / "photos", 2)), "--criterion", "color", "--out",
                  str(tmp_path / "out")], tmp_path, when="exec")
    assert interrupted(proc, send=False) == "interrupted"


@contextmanager
def sigint_at_the_first_llama_log() -> Iterator[list[bool]]:
    """Send SIGINT to this process from inside llama.cpp's log callback, at its first line; yields [True] once sent."""
    sent: list[bool] = []

    class SigintOnce(logging.Handler):
        def emit(self, record):
            if not sent:
                sent.append(True)
                os.kill(os.getpid(), signal.SIGINT)

    logger = logging.getLogger("esmc_desktop.llama_cpp")
    handler, level = SigintOnce(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield sent
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_ctrl_c_inside_a_log_callback_of_an_unguarded_c_call_is_raised_when_the_call_returns(tiny):
    """Python runs the handler inside the callback, called from C: it holds the interrupt there and raises it in
    the caller once llama.cpp has returned (no "Exception ignored", nothing lost), wherever the call was made."""
    import llama_cpp

    from esmc_desktop.mllm import interrupts
    from esmc_desktop.mllm.logs import route_llama_logs

    route_llama_logs()
    ignored, unraisable = [], sys.unraisablehook
    sys.unraisablehook = ignored.append
    previous = signal.signal(signal.SIGINT, interrupts.on_sigint)
    models = []
    try:
        with sigint_at_the_first_llama_log() as sent, pytest.raises(KeyboardInterrupt) as caught:
            models.append(llama_cpp.llama_model_load_from_file(str(tiny.f16.quantized).encode(),
                                                               llama_cpp.llama_model_default_params()))
            deadline = time.monotonic() + 300  # only bounds a failure: the interrupt comes within milliseconds
            while time.monotonic() < deadline:  # the caller's own Python code: the interrupt arrives here
                time.sleep(0.001)
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = unraisable
        for model in models:
            llama_cpp.llama_model_free(model)
    assert sent and models, "the signal came while llama.cpp loaded, and the load finished"
    assert not ignored, "nothing was printed as ignored inside the callback"
    where = [entry.frame.code.name for entry in caught.traceback]
    assert "to_logging" not in where and where[-2].startswith("test_"), "raised in the caller, not in the callback"
    assert not interrupts.pending()


def test_an_interrupt_raised_in_a_llama_cpp_callback_comes_out_of_the_c_call_as_itself(tiny):
    """In the library: the KeyboardInterrupt a log callback caught is raised when the model load returns."""
    with sigint_at_the_first_llama_log() as sent, pytest.raises(KeyboardInterrupt):
        LlavaRuntime(tiny.f16.quantized, tiny.f16.mmproj, n_threads=1)
    assert sent
    with LlavaRuntime(tiny.f16.quantized, tiny.f16.mmproj, n_threads=1) as rt:  # nothing is left held
        assert rt.run(__import__("models.tiny_llava").tiny_llava.sample_image(0), ["The color is"]).prompts


@needs_linux
def test_ctrl_c_in_the_photo_pass_of_a_move_stops_before_any_photo_is_moved(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 40)
    before = hashes(photos)
    out = tmp_path / "out"
    proc = start(cluster_args(tiny, photos, out, "--mode", "move"), tmp_path)
    seen = read_until(proc, b"reading photos")
    assert interrupted(proc, seen) == "interrupted"
    assert hashes(photos) == before, "every photo is where it was, unchanged"
    assert not list(out.rglob("*.png")) and not (out / "manifest.json").exists()
    assert (tmp_path / "cache" / "features.sqlite").is_file(), "the photos read so far are cached"


@needs_linux
def test_ctrl_c_during_a_move_export_stops_it_says_what_it_placed_and_undo_takes_it_back(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 80)
    before = hashes(photos)
    out = tmp_path / "out"
    proc = start(cluster_args(tiny, photos, out, "--mode", "move"), tmp_path)
    seen = read_until(proc, b"exporting")
    last = interrupted(proc, seen)
    assert last.startswith("interrupted: the move stopped after placing ") and "`esmc-desktop undo" in last, last
    placed = int(last.split("placing ")[1].split()[0])
    assert 0 < placed < 160, "it stopped inside the export"
    assert len(list(out.rglob("*.png"))) == placed, "the count said is the count on disk"
    assert hashes(photos) == before, "it never went on to removing originals"
    assert not (out / "manifest.json").exists()
    assert main(["undo", str(out)]) == 0
    assert hashes(photos) == before and not list(out.rglob("*.png"))


@needs_linux
def test_ctrl_c_during_a_tag_export_says_how_many_files_were_tagged_and_undo_takes_them_back(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 80)
    before = hashes(photos)
    out = tmp_path / "out"
    proc = start(cluster_args(tiny, photos, out, "--mode", "tags"), tmp_path)
    seen = read_until(proc, b"exporting")
    last = interrupted(proc, seen)
    assert last.startswith("interrupted: the tag export stopped after writing keywords into "), last
    assert main(["undo", str(out)]) == 0
    assert hashes(photos) == before, "no sidecar left, every photo as it was"
