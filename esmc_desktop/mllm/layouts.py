"""The CPU weight layouts by name: light, so the command line's --help lists them without loading llama.cpp.

How the weights sit in memory on the CPU: used from the memory-mapped file (llama.cpp's extra buffer types
off), or repacked into llama.cpp's CPU-specific layouts (extra buffer types on) from a file read, not mapped.
AUTO is the one measured faster on this machine (weight_layout.py).
"""

from __future__ import annotations

MAPPED, REPACKED = "mapped", "repacked"
WEIGHT_LAYOUTS = (MAPPED, REPACKED)
AUTO = "auto"
CHOICES = (AUTO, *WEIGHT_LAYOUTS)
