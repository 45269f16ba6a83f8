"""Route llama.cpp's and mtmd's stderr chatter into Python logging (DEBUG level).

llama.cpp logs while it loads a model (seconds): a Ctrl+C then is held, not raised here (interrupts.py).
"""

from __future__ import annotations

import ctypes
import logging

from esmc_desktop.mllm import interrupts

log = logging.getLogger("esmc_desktop.llama_cpp")
_callback = None


def route_llama_logs() -> None:
    """Install once; keeps a reference so the C callback is never collected."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp
    from llama_cpp import mtmd_cpp

    @llama_cpp.llama_log_callback
    @interrupts.c_callback
    def to_logging(_level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        try:
            log.debug("%s", text.decode("utf-8", "replace").rstrip())
        except BaseException as exc:  # nothing may cross into C; an interrupt is raised when the C call returns
            interrupts.hold(exc)

    _callback = to_logging
    llama_cpp.llama_log_set(to_logging, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_log_set(to_logging, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(to_logging, ctypes.c_void_p(0))
