"""The choices and defaults the faces list (the command line's options, the window's forms).

Light to import: numpy, llama.cpp, onnx and Qt stay out, so `esmc-desktop --help` answers at once.
"""

from __future__ import annotations

from esmc_desktop import __version__
from esmc_desktop.method.choices import DEFAULT_SAMPLES, RULE_VERSIONS, SPANS
from esmc_desktop.mllm.catalog import CATALOG, DEFAULT_MODEL, DEFAULT_QUANT
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.mllm.layouts import AUTO, CHOICES as CPU_WEIGHTS
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, TEMPLATES
from esmc_desktop.photos.modes import MODES

__all__ = ["AUTO", "CATALOG", "CPU_WEIGHTS", "DEFAULT_MODEL", "DEFAULT_QUANT", "DEFAULT_SAMPLES", "DEFAULT_TEMPLATE",
           "GpuLayers", "MODES", "RULE_VERSIONS", "SPANS", "TEMPLATES", "__version__"]
