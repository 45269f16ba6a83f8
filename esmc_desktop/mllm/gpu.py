"""How many layers to offload to a GPU: a number, or "auto" (what fits in free GPU memory).

Works with any GPU build of llama-cpp-python (CUDA, Metal, Vulkan...); with a
CPU-only build, "auto" means 0, and a number above 0 is refused. Either way the
install command of a GPU build is named only when this machine has a GPU that
build could use (a CPU-only llama.cpp cannot see GPUs, so the operating system
is asked); a machine without one is told nothing it cannot act on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.errors import SettingsError

GPU_DEVICE_TYPES = (1, 2)  # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU
DEVICE_KINDS = {0: "CPU", 1: "GPU", 2: "integrated GPU", 3: "accelerator"}
RESERVE_BYTES = 1536 * 2**20  # context, mmproj and compute buffers of a 7B LLaVA with a 2k context
LLAMA_CPP_PIN = "llama-cpp-python==0.3.36"
# PCI vendors whose GPUs llama.cpp runs on (CUDA or Vulkan); others (ASPEED and Matrox server consoles,
# virtual displays) draw a screen but compute nothing
PCI_GPU_VENDORS = {"0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel"}
DRM_DEVICES = Path("/sys/class/drm")


def machine_gpus(system: str | None = None, machine: str | None = None,
                 drm: Path = DRM_DEVICES) -> tuple[str, ...]:
    """The makers of this machine's GPUs a llama.cpp GPU build could use, as the operating system sees them.

    Apple silicon: Apple (Metal); other Macs: "GPU". Linux: each display device's PCI vendor under
    /sys/class/drm, and NVIDIA wherever its driver is loaded. Windows: NVIDIA when its driver is installed,
    else "GPU" when a Vulkan driver is (vulkan-1.dll comes with AMD's, Intel's and NVIDIA's drivers).
    Empty when there is none.
    """
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system == "Darwin":
        return ("Apple",) if machine in ("arm64", "aarch64") else ("GPU",)
    found = []
    if system == "Linux":
        for vendor in sorted(drm.glob("card*/device/vendor")):
            try:
                name = PCI_GPU_VENDORS.get(vendor.read_text().strip().lower())
            except OSError:
                continue
            if name and name not in found:
                found.append(name)
    if "NVIDIA" not in found and (shutil.which("nvidia-smi") or Path("/proc/driver/nvidia/version").exists()):
        found.append("NVIDIA")
    if system == "Windows" and not found and ctypes.util.find_library("vulkan-1"):
        found.append("GPU")
    return tuple(found)


def gpu_install_command(system: str | None = None, machine: str | None = None,
                        gpus: tuple[str, ...] | None = None) -> str | None:
    """The command that rebuilds the pinned llama-cpp-python for this machine's GPUs; None when it has none.

    Apple silicon: Metal. An NVIDIA GPU: CUDA (needs the CUDA toolkit). Any other GPU: Vulkan, the
    backend AMD and Intel GPUs share (needs the Vulkan SDK). On Windows the variable is set the
    PowerShell way.
    """
    system = system or platform.system()
    gpus = machine_gpus(system, machine) if gpus is None else gpus
    if not gpus:
        return None
    flag = "-DGGML_METAL=on" if "Apple" in gpus else "-DGGML_CUDA=on" if "NVIDIA" in gpus else "-DGGML_VULKAN=on"
    pip = f"pip install --force-reinstall --no-cache-dir {LLAMA_CPP_PIN}"
    if system == "Windows":
        return f'$env:CMAKE_ARGS="{flag}"; {pip}'
    return f'CMAKE_ARGS="{flag}" {pip}'


def gpu_build_advice() -> str:
    """What a CPU-only build's user can do: the install command where this machine has a GPU, else that it has none."""
    command = gpu_install_command()
    if command is None:
        return "this machine has no GPU llama.cpp could use"
    makers = " and ".join(g for g in machine_gpus() if g != "GPU")
    return (f"this machine's {makers + ' ' if makers else ''}GPU would run it faster with a GPU build: {command} "
            "(docs/gpu.md; `esmc-desktop doctor` gives the commands for this machine)")


# CUDA 13 from PyPI, for an NVIDIA machine without a CUDA toolkit: the wheels share one tree,
# site-packages/nvidia/cu13 (bin/nvcc, include, lib), which CMake takes as the toolkit's root
PYPI_CUDA = ('"nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" '
             '"nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cublas==13.0.*"')  # crt, nvvm: as nvcc's
TOOLS = ("nvidia-smi", "nvcc", "vulkaninfo", "glslc", "system_profiler")


@dataclass(frozen=True)
class GpuFindings:
    """What this machine and its llama.cpp build show about GPUs; `gpu_advice` turns them into sentences."""

    system: str
    machine: str
    backends: tuple[str, ...]  # ggml backends compiled into the installed llama.cpp
    offload: bool  # llama_supports_gpu_offload()
    gpu_devices: tuple[str, ...]  # the GPUs that build sees, "name: description"
    machine_gpus: tuple[str, ...]  # the GPU makers the operating system sees (machine_gpus())
    tools: dict[str, str]  # the tools of TOOLS found (and cuBLAS beside nvcc), by name: their paths

    @property
    def gpu_backends(self) -> tuple[str, ...]:
        return tuple(b for b in self.backends if b not in ("CPU", "BLAS", "RPC"))


def find_nvcc() -> str | None:
    """The CUDA compiler CMake would take: $CUDACXX, nvcc on the PATH, or the toolkit's usual places."""
    for candidate in (os.environ.get("CUDACXX"), shutil.which("nvcc"),
                      *(str(Path(root) / "bin" / "nvcc") for root in
                        (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda") if root)):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def find_cublas(nvcc: str) -> str | None:
    """cuBLAS of the toolkit `nvcc` belongs to (ggml's CUDA backend links it), or None."""
    root = Path(nvcc).resolve().parent.parent
    for folder in (root / "lib64", root / "lib", root / "targets" / f"{platform.machine()}-linux" / "lib"):
        found = sorted(folder.glob("libcublas.so*")) + sorted(folder.glob("cublas*.lib"))
        if found:
            return str(found[0])
    return None


def gpu_findings() -> GpuFindings:
    """Read this machine: the llama.cpp build's backends and GPUs, the OS's GPUs, and the GPU tools present."""
    import llama_cpp

    tools = {name: path for name in TOOLS if (path := shutil.which(name))}
    if nvcc := find_nvcc():
        tools["nvcc"] = nvcc
        if cublas := find_cublas(nvcc):
            tools["cublas"] = cublas
    return GpuFindings(platform.system(), platform.machine(), tuple(backend_names()),
                       bool(llama_cpp.llama_supports_gpu_offload()),
                       tuple(f"{d.name}: {d.description}" for d in devices() if d.is_gpu), machine_gpus(), tools)


def gpu_advice(found: GpuFindings) -> list[str]:
    """What the findings mean for the user, and the exact commands that would give them a GPU build.

    A GPU build that sees its GPU: nothing to do. A GPU build that sees none: the driver. A CPU build on a
    machine with a GPU: the rebuild for that GPU (CUDA with the installed toolkit, or with CUDA from PyPI
    where there is none; Metal; Vulkan). No GPU at all: one sentence and no command.
    """
    pip = f"pip install --force-reinstall --no-cache-dir {LLAMA_CPP_PIN}"
    if found.gpu_devices:
        return [f"llama.cpp uses the GPU ({', '.join(found.gpu_backends)} build): {'; '.join(found.gpu_devices)}"]
    if found.gpu_backends or found.offload:
        backends = ", ".join(found.gpu_backends) or "GPU"
        if "CUDA" in found.gpu_backends:
            driver = ("nvidia-smi runs, so the driver is there: check that the build's CUDA is not newer than "
                      "the driver (nvidia-smi shows the CUDA version it supports)" if "nvidia-smi" in found.tools
                      else "install NVIDIA's driver (nvidia-smi should then list the GPU)")
        elif "Vulkan" in found.gpu_backends:
            driver = ("vulkaninfo --summary should list the GPU; if it lists none, install the GPU's Vulkan driver"
                      if "vulkaninfo" in found.tools else "install the Vulkan loader and the GPU's Vulkan driver")
        else:
            driver = "check the GPU's driver"
        return [f"this llama.cpp build has {backends} but finds no GPU: {driver}"]
    if not found.machine_gpus:
        return ["no GPU on this machine that llama.cpp could use: it runs on the CPU"]
    lines = [f"no GPU in this llama.cpp build, but this machine has one ({', '.join(found.machine_gpus)}). "
             "For a GPU build:"]
    if found.system == "Windows":
        return lines + [f"  {gpu_install_command(found.system, found.machine, found.machine_gpus)}"]
    if "Apple" in found.machine_gpus:
        return lines + [f'  CMAKE_ARGS="-DGGML_METAL=on" {pip}']
    if "NVIDIA" in found.machine_gpus:
        cuda = '-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native'
        if "nvcc" in found.tools:
            lines.append(f'  CUDACXX={found.tools["nvcc"]} CMAKE_ARGS="{cuda}" {pip}')
            if "cublas" not in found.tools:
                lines.append("  (the CUDA toolkit of that nvcc has no cuBLAS, which the build links: add it, e.g. "
                             "NVIDIA's libcublas-dev package; docs/gpu.md says more)")
            return lines
        return lines + ["  there is no CUDA toolkit (nvcc); install NVIDIA's, or take CUDA 13 from PyPI "
                        "(needs a driver for CUDA 13: nvidia-smi shows 13.0 or later):",
                        f"  pip install {PYPI_CUDA}",
                        '  CUDA=$(python -c "import nvidia, os; print(os.path.join(nvidia.__path__[0], \'cu13\'))")',
                        "  ln -sf libcudart.so.13 $CUDA/lib/libcudart.so; "
                        "ln -sf libcublas.so.13 $CUDA/lib/libcublas.so; ln -sfn lib $CUDA/lib64",
                        f'  CUDACXX=$CUDA/bin/nvcc CUDAToolkit_ROOT=$CUDA PATH=$CUDA/bin:$PATH '
                        f'CMAKE_ARGS="{cuda}" {pip}']
    lines.append(f'  CMAKE_ARGS="-DGGML_VULKAN=on" {pip}')
    if "glslc" not in found.tools:
        lines.append("  (the build needs the Vulkan SDK's headers and shader compiler glslc, which is not on the PATH; "
                     "docs/gpu.md says how)")
    return lines


@dataclass(frozen=True)
class GpuLayers:
    """The user's GPU setting, the one shape it has everywhere (CLI, window, preferences).

    `count` None is auto: as many layers as fit in free GPU memory; 0 is the CPU only.
    Written as the --gpu-layers option takes it: 'auto' or a number.
    """

    count: int | None = None

    @property
    def auto(self) -> bool:
        return self.count is None

    @classmethod
    def parse(cls, text: str | None) -> "GpuLayers":
        """'auto' (or nothing) or a number of layers; anything else is a SettingsError saying so."""
        text = "auto" if text is None else str(text).strip().lower()
        if text in ("", "auto"):
            return cls()
        if not text.isdigit():
            raise SettingsError(f"GPU layers take 'auto' or a number of layers (0 = CPU only), not {text!r}")
        return cls(int(text))

    def __str__(self) -> str:
        return "auto" if self.count is None else str(self.count)


@dataclass(frozen=True)
class GpuPlan:
    n_gpu_layers: int
    message: str


@dataclass(frozen=True)
class Device:
    """A compute device ggml can use, as llama.cpp reports it."""

    name: str
    description: str
    kind: str  # CPU, GPU, integrated GPU, accelerator
    free_bytes: int
    total_bytes: int

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("GPU", "integrated GPU")


def devices() -> list[Device]:
    """Every device of the installed llama.cpp build (the CPU, and GPUs of a GPU build)."""
    from esmc_desktop.mllm.capture import load_ggml_library

    ggml, base = load_ggml_library("ggml"), load_ggml_library("ggml-base")
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for fn in (base.ggml_backend_dev_name, base.ggml_backend_dev_description):
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_char_p
    base.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    base.ggml_backend_dev_type.restype = ctypes.c_int
    base.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                             ctypes.POINTER(ctypes.c_size_t)]
    found = []
    for i in range(ggml.ggml_backend_dev_count()):
        dev = ggml.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        base.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        found.append(Device(base.ggml_backend_dev_name(dev).decode(errors="replace"),
                            base.ggml_backend_dev_description(dev).decode(errors="replace"),
                            DEVICE_KINDS.get(base.ggml_backend_dev_type(dev), "other"), free.value, total.value))
    return found


def backend_names() -> list[str]:
    """The backends compiled into the installed llama.cpp (CPU, and CUDA, Metal, Vulkan... in a GPU build)."""
    from esmc_desktop.mllm.capture import load_ggml_library

    ggml, base = load_ggml_library("ggml"), load_ggml_library("ggml-base")
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    ggml.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_reg_get.restype = ctypes.c_void_p
    base.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    base.ggml_backend_reg_name.restype = ctypes.c_char_p
    return [base.ggml_backend_reg_name(ggml.ggml_backend_reg_get(i)).decode(errors="replace")
            for i in range(ggml.ggml_backend_reg_count())]


def gpu_free_bytes() -> int:
    """Free memory summed over GPU devices ggml can see (0 on a CPU-only build)."""
    return sum(d.free_bytes for d in devices() if d.is_gpu)


def plan_gpu_layers(setting: GpuLayers, lm_path: Path | str, n_layer: int) -> GpuPlan:
    """Turn the user's setting into a layer count for llama.cpp, with a sentence saying what it did."""
    import llama_cpp

    has_gpu = bool(llama_cpp.llama_supports_gpu_offload())
    if setting.count == 0:
        return GpuPlan(0, "running on the CPU")
    if setting.auto:
        if not has_gpu:
            if gpu_install_command() is None:
                return GpuPlan(0, "running on the CPU")
            return GpuPlan(0, "running on the CPU: this llama-cpp-python was built without GPU support; "
                              + gpu_build_advice())
        free = gpu_free_bytes()
        if not free:
            return GpuPlan(0, "running on the CPU: llama.cpp finds no free GPU memory")
        per_layer = Path(lm_path).stat().st_size / (n_layer + 1)
        fit = int(max(0, free - RESERVE_BYTES) // per_layer)
        layers = min(fit, n_layer + 1)
        return GpuPlan(layers, f"offloading {layers} of {n_layer + 1} layers to the GPU "
                               f"({free / 2**30:.1f} GiB free)")
    if not has_gpu:
        raise SettingsError(f"--gpu-layers {setting} asks for a GPU, but this llama-cpp-python was built without "
                            f"GPU support; {gpu_build_advice()}. Or give --gpu-layers 0 (the CPU)")
    return GpuPlan(setting.count, f"offloading {setting.count} layer{'s' if setting.count != 1 else ''} to the GPU")


def plan_gpu(setting: GpuLayers, lm: Path | str) -> GpuPlan:
    """`plan_gpu_layers` for a model file: it loads llama.cpp and probes devices, so call it off the GUI thread."""
    from esmc_desktop.mllm.gguf_files import LM_BLOCK_COUNT, read_info

    n_layer = int(read_info(lm).get(LM_BLOCK_COUNT, 0) or 0)
    return plan_gpu_layers(setting, lm, n_layer)
