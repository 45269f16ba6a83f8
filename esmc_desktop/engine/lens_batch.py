"""Lens readings of several photos in one projection, as many as the model runs quickly.

The logit lens keeps no copy of the LM's head (32,000 x 4,096 at 7B, 0.5 GB in f32: mllm/logit_lens.py
reads it from the model file), so each projection reads and dequantizes the whole head once, whatever the
number of rows. On a CPU a 7B photo takes about 25 s in the model and one projection per photo adds a few
percent; on a GPU a photo takes tens of milliseconds and a projection per photo would cost more than the
model itself. Rows therefore wait until the photos pending took WAIT_SECONDS of model time (or MOST_PHOTOS
are pending), then go through the lens together: on a CPU every photo is projected at once, on a GPU dozens
share one read of the head. A stop (Cancel, Ctrl+C, an error) still projects and stores what is pending,
so every photo the model finished is cached: one more read of the head, far less than a photo's work on a CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np

from esmc_desktop.mllm.logit_lens import LogitLens
from esmc_desktop.photos.scan import Photo

WAIT_SECONDS = 2.0
MOST_PHOTOS = 64

Reading = tuple[np.ndarray, np.ndarray]  # a row's top-k token ids and probabilities


@dataclass
class _Pending:
    photo: Photo
    keys: list[Hashable]
    rows: list[np.ndarray]
    blocks: list[int]


class LensBatch:
    """Collects (key, hidden row, block) per photo; `store(photo, {key: reading})` gets each photo's readings.

    Use as a context manager: what is pending is projected when the block ends, by an exception too.
    """

    def __init__(self, lens: LogitLens, store: Callable[[Photo, dict[Hashable, Reading]], None], *,
                 wait: float = WAIT_SECONDS, most: int = MOST_PHOTOS) -> None:
        self.lens, self.store, self.wait, self.most = lens, store, wait, most
        self.seconds = 0.0  # time spent in the lens
        self._pending: list[_Pending] = []
        self._waited = 0.0

    def add(self, photo: Photo, rows: list[tuple[Hashable, np.ndarray, int]], model_seconds: float) -> None:
        """One photo's rows (key, hidden state of width n_embd, block it was read at) and its model time."""
        keys, hidden, blocks = zip(*rows) if rows else ((), (), ())
        self._pending.append(_Pending(photo, list(keys), list(hidden), list(blocks)))
        self._waited += model_seconds
        if self._waited >= self.wait or len(self._pending) >= self.most:
            self.flush()

    def flush(self) -> None:
        """Project every pending row at once and store each photo's readings."""
        pending, self._pending, self._waited = self._pending, [], 0.0
        rows = [row for p in pending for row in p.rows]
        if not rows:
            for p in pending:
                self.store(p.photo, {})
            return
        started = time.perf_counter()
        out = self.lens.project(np.stack(rows)[:, None, :], [b for p in pending for b in p.blocks])
        self.seconds += time.perf_counter() - started
        at = 0
        for p in pending:
            self.store(p.photo, {key: (out.indices[at + i], out.values[at + i]) for i, key in enumerate(p.keys)})
            at += len(p.keys)

    def __enter__(self) -> "LensBatch":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.flush()
            return
        try:
            self.flush()
        except Exception:  # noqa: BLE001 (the stop or error that ended the pass is the one to report)
            pass
