"""`esmc-desktop doctor`: what this machine can run, and the one command that would make it faster.

Reads the installed llama.cpp build (which backends it has, whether it can
offload), its devices and their free memory, the GPUs the operating system shows
and the GPU tools present, and the registered models; says for each model whether
it fits on the GPU, partly, or runs from RAM, which CPU weight layout was
measured faster here (weight_layout.py's cache), and ends with what the GPU
findings mean and the exact command for a GPU build where one would help
(gpu.gpu_advice). Offline; loads no model.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import psutil

from esmc_desktop.mllm.gpu import RESERVE_BYTES, Device, devices, gpu_advice, gpu_findings
from esmc_desktop.mllm.registry import ModelEntry, ModelRegistry
from esmc_desktop.mllm.weight_layout import machine_verdicts
from esmc_desktop.qt_platform import doctor_line


@dataclass(frozen=True)
class ModelFit:
    entry: ModelEntry
    bytes_needed: int  # LM + mmproj + context/buffers reserve
    verdict: str


def fit(entry: ModelEntry, gpus: list[Device], ram_available: int) -> ModelFit:
    """Whether a pair runs on the GPU whole, in part (how many bytes), or from RAM."""
    needed = entry.lm.stat().st_size + entry.mmproj.stat().st_size + RESERVE_BYTES
    gpu_free = sum(d.free_bytes for d in gpus)
    if gpus and gpu_free >= needed:
        verdict = "fits in GPU memory"
    elif gpus:
        verdict = (f"in part on the GPU ({gpu_free / 2**30:.1f} of {needed / 2**30:.1f} GiB); "
                   "`--gpu-layers auto` offloads what fits")
    elif ram_available >= needed:
        verdict = "runs on the CPU from RAM"
    else:
        verdict = f"needs {needed / 2**30:.1f} GiB; only {ram_available / 2**30:.1f} GiB of RAM is available"
    return ModelFit(entry, needed, verdict)


def report(registry: ModelRegistry | None = None) -> list[str]:
    """The doctor's report, one line each."""
    import llama_cpp

    found = devices()
    gpus = [d for d in found if d.is_gpu]
    ram = psutil.virtual_memory()
    findings = gpu_findings()
    tools = ", ".join(f"{name} ({path})" for name, path in findings.tools.items()) or "none"
    lines = [f"llama-cpp-python {llama_cpp.__version__}: build with {', '.join(findings.backends)}; "
             f"GPU offload {'supported' if findings.offload else 'not supported (a CPU-only build)'}",
             f"platform: {platform.system()} {platform.machine()}, Python {platform.python_version()}",
             f"GPUs the operating system shows: {', '.join(findings.machine_gpus) or 'none'}; GPU tools found: {tools}",
             doctor_line()]
    for d in found:
        memory = (f"{d.free_bytes / 2**30:.1f} of {d.total_bytes / 2**30:.1f} GiB free" if d.total_bytes
                  else f"RAM {ram.available / 2**30:.1f} of {ram.total / 2**30:.1f} GiB available")
        lines.append(f"device {d.name} ({d.kind}): {d.description}, {memory}")
    registry = registry or ModelRegistry()
    default = registry.default_name()
    for entry in registry.entries():
        mark = " (default)" if entry.name == default else ""
        try:
            lines.append(f"model {entry.name}{mark}: {fit(entry, gpus, ram.available).verdict}")
        except OSError:
            lines.append(f"model {entry.name}{mark}: its files are gone ({entry.lm}); remove it or move them back")
    verdicts = machine_verdicts()
    for verdict in verdicts:
        when = time.strftime("%Y-%m-%d", time.localtime(verdict.measured_at))
        threads = f"{verdict.threads} thread{'s' if verdict.threads != 1 else ''}"
        lines.append(f"CPU weights for {verdict.lm}: {verdict.layout}, {verdict.reason} (measured {when}, {threads})")
    if not verdicts:
        lines.append("CPU weights: not measured on this machine yet (the first run of a model on the CPU measures "
                     "whether llama.cpp's repacked layout beats the mapped file)")
    return lines + gpu_advice(findings)
