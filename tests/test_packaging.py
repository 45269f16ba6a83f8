"""The wheel is the product: it holds only `esmc_desktop`, the demo model inside it, and `demo` runs from anywhere.

Kept affordable: the wheel is built for our package alone (`--no-deps`, no build
isolation), and the fresh venv sees the site-packages of the interpreter running the
tests (the system's, or those of a venv the tests run in) so that llama-cpp-python (a
long C++ build) and the other dependencies are not built or downloaded again. Our
package comes from the venv, which the test checks.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_wheel_installs_into_a_fresh_venv_and_runs_demo_from_an_empty_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # no registered models: the shipped demo model is the default
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                  str(tmp_path / "dist"), str(REPO)], tmp_path, env)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("esmc_desktop-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"esmc_desktop", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"esmc_desktop/demo/model/demo-Q4_K_M.gguf", "esmc_desktop/demo/model/demo-mmproj-f16.gguf"} <= set(names)

    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=True)
    bin_dir = tmp_path / "venv" / ("Scripts" if os.name == "nt" else "bin")
    venv_site = _run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, env).stdout.strip()
    (Path(venv_site) / "outer-site.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # after the venv's own
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", str(wheel)], tmp_path, env)
    assert installed.returncode == 0, installed.stderr

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    where = _run([str(bin_dir / "python"), "-c", "import esmc_desktop; print(esmc_desktop.__file__)"], empty, env)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")
    demo = _run([str(bin_dir / "esmc-desktop"), "demo", "--photos", "12", "--quiet", "--gpu-layers", "0"], empty, env)
    assert demo.returncode == 0, demo.stderr
    assert "model: demo" in demo.stdout
    assert len(list((empty / "esmc-demo" / "sorted").rglob("*.png"))) == 12 * 3
