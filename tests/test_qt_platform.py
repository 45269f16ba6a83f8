"""Before Qt starts: the system libraries its X11 plugin needs, named as the packages to install (window and doctor)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.qt_platform import XCB_LIBRARIES, doctor_line, missing_libraries, uses_x11, window_problem

REPO = Path(__file__).resolve().parent.parent
NOT_THERE = ("libesmc-not-installed.so.0", "libesmc-not-installed0")


def test_a_missing_library_is_named_with_the_package_that_provides_it_in_one_sentence():
    present = [lib for lib in XCB_LIBRARIES if not missing_libraries([lib])][:1]
    problem = window_problem({"QT_QPA_PLATFORM": "xcb"}, present + [NOT_THERE])
    assert problem is not None and problem.count(". ") == 0 and problem.endswith(".")
    assert "libesmc-not-installed.so.0" in problem and "sudo apt install libesmc-not-installed0 " in problem
    assert not any(lib in problem for lib, _ in present), "only what is missing"


def test_only_an_x11_start_is_checked():
    assert uses_x11({}, "linux") and uses_x11({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_x11({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_x11({"WAYLAND_DISPLAY": "wayland-0"}, "linux"), "Qt 6 starts on Wayland there"
    assert not uses_x11({}, "darwin") and not uses_x11({}, "win32")
    assert window_problem({"QT_QPA_PLATFORM": "offscreen"}, [NOT_THERE]) is None


def test_doctor_has_the_window_s_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["doctor"]) == EXIT_OK
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("window"))
    assert line == doctor_line()
    missing = missing_libraries()
    if missing:
        assert all(package in line for _, package in missing) and "sudo apt install" in line
    else:
        assert line == "window (X11): the libraries Qt needs are installed"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not missing_libraries(),
                    reason="every library Qt's X11 plugin needs is installed here")
def test_the_window_launcher_names_the_packages_instead_of_qt_s_abort():
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "gui"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "could not load the qt platform plugin" not in done.stderr.lower()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "sudo apt install" in errors[0]
    assert all(package in errors[0] for _, package in missing_libraries())
