"""Ctrl+C for a face that runs as a program: the handler that also remembers the signal came (mllm.interrupts)."""

from __future__ import annotations

from esmc_desktop.mllm.interrupts import on_sigint, received

__all__ = ["on_sigint", "received"]
