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
llama.cpp also calls back (logs) from C calls no `held()` surrounds (context and projector set-up,
freeing): when the signal finds Python inside a function marked `c_callback`, `on_sigint` notes it
as `_note` does, and a watcher raises it in the main thread once that is out of every callback, that
is, once the C call has returned.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Callable, Iterator, TypeVar

_held: list[KeyboardInterrupt] = []
_lock = threading.Lock()
_received = threading.Event()
_callbacks: set[CodeType] = set()
_F = TypeVar("_F", bound=Callable)


def c_callback(function: _F) -> _F:
    """Mark a function C calls back (under its ctypes decorator): a Ctrl+C never raises inside it."""
    _callbacks.add(function.__code__)
    return function


def _in_callback(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code in _callbacks:
            return True
        frame = frame.f_back
    return False


def on_sigint(_signum, frame: FrameType | None) -> None:
    """SIGINT: raise KeyboardInterrupt, as Python does, and remember it came (`received`).

    Inside a C callback the interrupt is held instead, and raised once the C call has returned.
    """
    _received.set()
    if _in_callback(frame):
        hold(KeyboardInterrupt())
        threading.Thread(target=_raise_after_callbacks, name="esmc-interrupt", daemon=True).start()
        return
    with _lock:
        _held.clear()  # this is the interrupt a callback held, raised now
    raise KeyboardInterrupt


def _raise_after_callbacks() -> None:
    """Signal the main thread again once it is out of every callback (polled: it leaves one within
    milliseconds, and the C call itself ends early because `pending()`); stop when the interrupt was
    raised another way (`raise_held`)."""
    main = threading.main_thread().ident
    while pending():
        frame = sys._current_frames().get(main)
        if frame is None:
            return
        if not _in_callback(frame):
            _thread.interrupt_main()
            return
        time.sleep(0.005)


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
