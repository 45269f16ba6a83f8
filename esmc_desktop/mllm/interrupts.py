"""A Ctrl+C while llama.cpp computes stops the run, once the C call has returned.

Python runs its SIGINT handler in the next Python code of the main thread, which during a
decode or a model load is one of our callbacks, called from C. The KeyboardInterrupt would be
raised there (at the callback's very first instruction, before any `try` in it), ctypes would
print it as "Exception ignored" and go on, and the interrupt would be lost. So around each C
call that runs callbacks, `held()` puts a handler in place that only notes the signal; the
callbacks see `pending()` and end the computation early (the graph stops at its next node, a
model load aborts), and when the C call returns the interrupt is raised as itself.
A callback also hands any KeyboardInterrupt it catches to `hold` (another handler may raise one).

`on_sigint` is Python's own handler (raise KeyboardInterrupt) that also remembers the signal
came: a C extension interrupted while it initializes raises its own error instead (onnxruntime:
"ImportError: initialization failed"), and the command line still answers "interrupted".
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_held: list[KeyboardInterrupt] = []
_lock = threading.Lock()
_received = threading.Event()


def on_sigint(_signum, _frame) -> None:
    """SIGINT: raise KeyboardInterrupt, as Python does, and remember it came (`received`)."""
    _received.set()
    raise KeyboardInterrupt


def received() -> bool:
    """Whether a SIGINT came while `on_sigint` or `held` was the handler."""
    return _received.is_set()


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
    """Raise the interrupt noted or caught during a C call, as itself (once)."""
    with _lock:
        if not _held:
            return
        exc = _held[0]
        _held.clear()
    raise exc


def _note(_signum, _frame) -> None:
    _received.set()
    hold(KeyboardInterrupt())


@contextmanager
def held() -> Iterator[None]:
    """Around a C call that may run our callbacks: a Ctrl+C meanwhile is noted, then raised when the block ends.

    Only where Python's own SIGINT handler is in place (the main thread of a program that kept it);
    elsewhere the block runs as it is and `raise_held` still raises what a callback caught.
    """
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    swap = previous is signal.default_int_handler or previous is on_sigint
    if swap:
        signal.signal(signal.SIGINT, _note)
    try:
        yield
    finally:
        if swap:
            signal.signal(signal.SIGINT, previous)
    raise_held()
