"""How many layers to offload to a GPU: a number, or "auto" (what fits in free GPU memory).

Works with any GPU build of llama-cpp-python (CUDA, Metal, Vulkan...); with a
CPU-only build, "auto" means 0 and says so, and a number above 0 is refused
with the install command.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.errors import SettingsError
from esmc_desktop.mllm.gguf_files import LM_BLOCK_COUNT, read_info

GPU_DEVICE_TYPES = (1, 2)  # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU
RESERVE_BYTES = 1536 * 2**20  # context, mmproj and compute buffers of a 7B LLaVA with a 2k context
NO_GPU_BUILD = ("this llama-cpp-python was built without GPU support. Reinstall it with a GPU build, e.g. "
                "CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install --force-reinstall --no-cache-dir "
                "llama-cpp-python==0.3.36 (README, section GPU)")


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


def gpu_free_bytes() -> int:
    """Free memory summed over GPU devices ggml can see (0 on a CPU-only build)."""
    from esmc_desktop.mllm.capture import load_ggml_library

    ggml, base = load_ggml_library("ggml"), load_ggml_library("ggml-base")
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    base.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    base.ggml_backend_dev_type.restype = ctypes.c_int
    base.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                             ctypes.POINTER(ctypes.c_size_t)]
    total_free = 0
    for i in range(ggml.ggml_backend_dev_count()):
        dev = ggml.ggml_backend_dev_get(i)
        if base.ggml_backend_dev_type(dev) in GPU_DEVICE_TYPES:
            free, total = ctypes.c_size_t(), ctypes.c_size_t()
            base.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            total_free += free.value
    return total_free


def plan_gpu_layers(setting: GpuLayers, lm_path: Path | str, n_layer: int) -> GpuPlan:
    """Turn the user's setting into a layer count for llama.cpp, with a sentence saying what it did."""
    import llama_cpp

    has_gpu = bool(llama_cpp.llama_supports_gpu_offload())
    if setting.count == 0:
        return GpuPlan(0, "running on the CPU")
    if setting.auto:
        if not has_gpu:
            return GpuPlan(0, "running on the CPU: " + NO_GPU_BUILD)
        free = gpu_free_bytes()
        per_layer = Path(lm_path).stat().st_size / (n_layer + 1)
        fit = int(max(0, free - RESERVE_BYTES) // per_layer)
        layers = min(fit, n_layer + 1)
        return GpuPlan(layers, f"offloading {layers} of {n_layer + 1} layers to the GPU "
                               f"({free / 2**30:.1f} GiB free)")
    if not has_gpu:
        raise SettingsError(f"--gpu-layers {setting} asks for a GPU, but " + NO_GPU_BUILD)
    return GpuPlan(setting.count, f"offloading {setting.count} layers to the GPU")


def plan_gpu(setting: GpuLayers, lm: Path | str) -> GpuPlan:
    """`plan_gpu_layers` for a model file: it loads llama.cpp and probes devices, so call it off the GUI thread."""
    n_layer = int(read_info(lm).get(LM_BLOCK_COUNT, 0) or 0)
    return plan_gpu_layers(setting, lm, n_layer)
