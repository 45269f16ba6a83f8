"""What this machine can run: the llama.cpp build, its devices, the models and whether they fit (`doctor`),
and whether a window can open here at all (checked before Qt is imported)."""

from __future__ import annotations

from esmc_desktop.mllm.doctor import report
from esmc_desktop.qt_platform import window_problem

__all__ = ["report", "window_problem"]
