"""`esmc-desktop doctor`: the build, devices, models that fit, and the GPU install command for the platform."""

from __future__ import annotations

import llama_cpp
import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.mllm.gpu import gpu_install_command, machine_gpus


def test_doctor_reports_the_build_devices_and_whether_each_model_fits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["doctor"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("llama-cpp-python 0.3.36: build with CPU")
    assert any(line.startswith("device CPU (CPU):") and "GiB" in line for line in lines)
    assert any(line.startswith("model demo (default): ") for line in lines)
    if not llama_cpp.llama_supports_gpu_offload():
        command = gpu_install_command()
        if command is None:  # no GPU on this machine: nothing to install
            assert lines[-1] == "no GPU on this machine that llama.cpp could use: it runs on the CPU"
            assert not any("CMAKE_ARGS" in line for line in lines)
        else:
            assert lines[-1].strip() == command


@pytest.mark.parametrize("system, machine, gpus, command", [
    ("Linux", "x86_64", ("NVIDIA",), 'CMAKE_ARGS="-DGGML_CUDA=on" pip install'),
    ("Linux", "x86_64", ("Intel", "NVIDIA"), 'CMAKE_ARGS="-DGGML_CUDA=on" pip install'),
    ("Linux", "x86_64", ("AMD",), 'CMAKE_ARGS="-DGGML_VULKAN=on" pip install'),
    ("Darwin", "arm64", ("Apple",), 'CMAKE_ARGS="-DGGML_METAL=on" pip install'),
    ("Windows", "AMD64", ("NVIDIA",), '$env:CMAKE_ARGS="-DGGML_CUDA=on"; pip install'),
])
def test_the_gpu_install_command_fits_the_machine_s_gpu_and_keeps_the_pinned_version(system, machine, gpus, command):
    line = gpu_install_command(system, machine, gpus)
    assert line.startswith(command) and line.endswith("--force-reinstall --no-cache-dir llama-cpp-python==0.3.36")


@pytest.mark.parametrize("system", ["Linux", "Windows"])
def test_a_machine_without_a_gpu_is_given_no_install_command(system):
    assert gpu_install_command(system, "x86_64", ()) is None


def _display_devices(root, *vendors: str):
    """A /sys/class/drm as Linux lays it out: card<N>/device/vendor holding the PCI vendor id."""
    for n, vendor in enumerate(vendors):
        (root / f"card{n}" / "device").mkdir(parents=True)
        (root / f"card{n}" / "device" / "vendor").write_text(vendor + "\n")
    return root


def test_the_gpus_are_read_from_the_display_devices_and_a_server_console_is_none(tmp_path):
    """An ASPEED or Matrox console (servers) draws the screen but computes nothing: no install command for it."""
    if machine_gpus("Linux", "x86_64", drm=tmp_path / "none"):
        pytest.skip("this machine has an NVIDIA driver, which is found whatever the display devices")
    assert machine_gpus("Linux", "x86_64", drm=_display_devices(tmp_path / "server", "0x1a03", "0x102b")) == ()
    assert machine_gpus("Linux", "x86_64", drm=_display_devices(tmp_path / "laptop", "0x8086", "0x1002")) == \
        ("Intel", "AMD")
    assert machine_gpus("Darwin", "arm64") == ("Apple",)
