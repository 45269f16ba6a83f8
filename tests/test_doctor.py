"""`esmc-desktop doctor`: the build, devices, models that fit, and the GPU install command for the platform."""

from __future__ import annotations

import llama_cpp
import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.mllm.gpu import gpu_install_command


def test_doctor_reports_the_build_devices_and_whether_each_model_fits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["doctor"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("llama-cpp-python 0.3.36: build with CPU")
    assert any(line.startswith("device CPU (CPU):") and "GiB" in line for line in lines)
    assert any(line.startswith("model demo (default): ") for line in lines)
    if not llama_cpp.llama_supports_gpu_offload():
        assert lines[-1].strip() == gpu_install_command()


@pytest.mark.parametrize("system, machine, nvidia, command", [
    ("Linux", "x86_64", True, 'CMAKE_ARGS="-DGGML_CUDA=on" pip install'),
    ("Linux", "x86_64", False, 'CMAKE_ARGS="-DGGML_VULKAN=on" pip install'),
    ("Darwin", "arm64", False, 'CMAKE_ARGS="-DGGML_METAL=on" pip install'),
    ("Windows", "AMD64", True, '$env:CMAKE_ARGS="-DGGML_CUDA=on"; pip install'),
])
def test_the_gpu_install_command_fits_the_platform_and_keeps_the_pinned_version(system, machine, nvidia, command):
    line = gpu_install_command(system, machine, nvidia)
    assert line.startswith(command) and line.endswith("--force-reinstall --no-cache-dir llama-cpp-python==0.3.36")
