"""Prepare the next photos on worker threads while the model reads the current one.

Decoding a camera JPEG takes longer than the model needs for it on a GPU;
done one after the other, preparation would be most of the time. Pillow
releases the GIL while it decodes and hashlib while it hashes, so threads
overlap with llama.cpp. The look-ahead is bounded: at most `ahead` prepared
photos wait and `workers` are being decoded, so memory stays bounded however
large the folder and its photos are (a 48 MP non-JPEG is decoded in full
before it is reduced: about 150 MB per worker at that moment).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from esmc_desktop.errors import ImageError

DEFAULT_WORKERS = 2
DEFAULT_AHEAD = 4

Item = TypeVar("Item")
Value = TypeVar("Value")


@dataclass
class Prepared(Generic[Item, Value]):
    """One item and what preparing it gave: a value, or the ImageError that says why not."""

    item: Item
    value: Value | None
    error: ImageError | None
    seconds: float  # time the worker spent preparing it


def _prepare(prepare: Callable[[Item], Value], item: Item) -> Prepared:
    started = time.perf_counter()
    try:
        value, error = prepare(item), None
    except ImageError as exc:
        value, error = None, exc
    return Prepared(item, value, error, time.perf_counter() - started)


class Prefetch(Generic[Item, Value]):
    """Iterate over `prepare(item)` results in order, prepared ahead on worker threads.

    Use as a context manager: leaving it (finished, cancelled or failed) drops the
    photos not started and waits for the ones being decoded.
    """

    def __init__(self, items: Iterable[Item], prepare: Callable[[Item], Value], *,
                 workers: int = DEFAULT_WORKERS, ahead: int = DEFAULT_AHEAD) -> None:
        if workers < 1 or ahead < 1:
            raise ValueError(f"workers and ahead must be at least 1, got {workers} and {ahead}")
        self._items = iter(items)
        self._prepare = prepare
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="prefetch")
        self._pending: deque[Future] = deque()
        self.waited = 0.0  # seconds the consumer spent waiting for a photo that was not ready yet

    def __enter__(self) -> "Prefetch[Item, Value]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit_next(self) -> None:
        for item in self._items:
            self._pending.append(self._pool.submit(_prepare, self._prepare, item))
            return

    def __iter__(self) -> Iterator[Prepared[Item, Value]]:
        while len(self._pending) < self._ahead:
            before = len(self._pending)
            self._submit_next()
            if len(self._pending) == before:
                break
        while self._pending:
            future = self._pending.popleft()
            self._submit_next()
            started = time.perf_counter()
            prepared = future.result()
            self.waited += time.perf_counter() - started
            yield prepared
