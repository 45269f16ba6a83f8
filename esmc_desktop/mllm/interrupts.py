"""A Ctrl+C that lands while llama.cpp runs one of our Python callbacks stops the run, after C returns.

Python raises KeyboardInterrupt in whatever Python code runs next in the main thread, which
during a decode is our eval or log callback, called from C. An exception must not cross into
C (ctypes prints it as "Exception ignored" and goes on, so the interrupt would be lost), so
each callback catches everything and hands a KeyboardInterrupt to `hold`; the runtime calls
`raise_held` after every C call that can run a callback, and the interrupt goes on as itself.
"""

from __future__ import annotations

import threading

_held: list[KeyboardInterrupt] = []
_lock = threading.Lock()


def hold(exc: BaseException) -> bool:
    """Keep `exc` for `raise_held` when it is an interrupt; returns whether it was one."""
    if not isinstance(exc, KeyboardInterrupt):
        return False
    with _lock:
        _held.append(exc)
    return True


def pending() -> bool:
    """Whether an interrupt is waiting: a callback then lets the C computation end as soon as it can."""
    return bool(_held)


def raise_held() -> None:
    """Raise the interrupt a callback caught, as itself (once)."""
    with _lock:
        if not _held:
            return
        exc = _held[0]
        _held.clear()
    raise exc
