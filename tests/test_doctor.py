"""`esmc-desktop doctor`: the build, devices, models that fit, and the GPU install command for the platform."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import llama_cpp
import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.mllm.gpu import gpu_advice, gpu_findings, gpu_install_command, machine_gpus


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


def test_doctor_reads_this_machine_s_build_gpus_and_tools_and_ends_with_what_they_mean(tmp_path, monkeypatch, capsys):
    """The findings are this machine's own; the report's last lines are the advice they give."""
    found = gpu_findings()
    assert found.offload == bool(llama_cpp.llama_supports_gpu_offload())
    assert "CPU" in found.backends and found.machine_gpus == machine_gpus()
    assert all(Path(path).is_file() for path in found.tools.values())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["doctor"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    advice = gpu_advice(found)
    assert lines[-len(advice):] == advice
    assert lines[0].endswith("GPU offload supported" if found.offload else
                             "GPU offload not supported (a CPU-only build)")
    if not found.offload and not found.machine_gpus:  # a CPU build on a machine without a GPU: no command
        assert advice == ["no GPU on this machine that llama.cpp could use: it runs on the CPU"]


def test_a_cpu_build_on_an_nvidia_machine_is_told_the_cuda_build_with_the_toolkit_it_has_or_cuda_from_pypi():
    """This machine's findings with an NVIDIA GPU added: the build command takes the nvcc found, or PyPI's CUDA."""
    here = replace(gpu_findings(), system="Linux", backends=("CPU",), offload=False, gpu_devices=(),
                   machine_gpus=("NVIDIA",))
    with_toolkit = gpu_advice(replace(here, tools={**here.tools, "nvcc": "/usr/local/cuda/bin/nvcc",
                                                   "cublas": "/usr/local/cuda/lib64/libcublas.so"}))
    assert len(with_toolkit) == 2
    assert with_toolkit[1] == ('  CUDACXX=/usr/local/cuda/bin/nvcc CMAKE_ARGS="-DGGML_CUDA=on '
                               '-DCMAKE_CUDA_ARCHITECTURES=native" pip install --force-reinstall --no-cache-dir '
                               'llama-cpp-python==0.3.36')
    no_cublas = gpu_advice(replace(here, tools={"nvcc": "/usr/local/cuda/bin/nvcc"}))
    assert no_cublas[1] == with_toolkit[1] and "has no cuBLAS" in no_cublas[2]
    without = gpu_advice(replace(here, tools={k: v for k, v in here.tools.items() if k not in ("nvcc", "cublas")}))
    assert "there is no CUDA toolkit (nvcc)" in without[1]
    assert without[2] == ('  pip install "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" '
                          '"nvidia-cuda-cccl==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" '
                          '"nvidia-cublas==13.0.*"')
    assert without[4].endswith("ln -sfn lib $CUDA/lib64")
    assert without[-1].startswith("  CUDACXX=$CUDA/bin/nvcc CUDAToolkit_ROOT=$CUDA PATH=$CUDA/bin:$PATH CMAKE_ARGS=")


def test_apple_silicon_is_told_metal_and_other_gpus_vulkan_with_the_sdk_it_lacks():
    here = replace(gpu_findings(), backends=("CPU",), offload=False, gpu_devices=())
    mac = gpu_advice(replace(here, system="Darwin", machine="arm64", machine_gpus=("Apple",)))
    assert mac[-1] == ('  CMAKE_ARGS="-DGGML_METAL=on" pip install --force-reinstall --no-cache-dir '
                       'llama-cpp-python==0.3.36')
    amd = gpu_advice(replace(here, system="Linux", machine_gpus=("AMD",), tools={}))
    assert amd[1].startswith('  CMAKE_ARGS="-DGGML_VULKAN=on" pip install') and "glslc" in amd[2]
    windows = gpu_advice(replace(here, system="Windows", machine="AMD64", machine_gpus=("NVIDIA",)))
    assert windows[-1].strip() == gpu_install_command("Windows", "AMD64", ("NVIDIA",))


def test_a_gpu_build_that_sees_no_gpu_is_sent_to_the_driver_and_one_that_sees_it_is_told_so():
    here = replace(gpu_findings(), system="Linux", backends=("CPU", "CUDA"), offload=True, gpu_devices=())
    assert gpu_advice(replace(here, tools={})) == [
        "this llama.cpp build has CUDA but finds no GPU: install NVIDIA's driver (nvidia-smi should then list the GPU)"]
    driver_there = gpu_advice(replace(here, tools={"nvidia-smi": "/usr/bin/nvidia-smi"}))
    assert "nvidia-smi shows the CUDA version" in driver_there[0]
    seen = gpu_advice(replace(here, gpu_devices=("CUDA0: NVIDIA H200",)))
    assert seen == ["llama.cpp uses the GPU (CUDA build): CUDA0: NVIDIA H200"]
