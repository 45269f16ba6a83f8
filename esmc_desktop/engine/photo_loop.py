"""The one loop over photos that every model pass runs: localization samples, the photo pass, assign, the bench.

Photos are decoded ahead on worker threads (photos/prefetch.py) at the size the vision encoder takes; the
loop checks the cancel event before each photo, records an unreadable photo as skipped and goes on, runs
the model once per photo with every prompt that photo still needs, adds the time to StageTimes and
reports progress after each photo (skipped ones count as done; speed and time left are those of the
photos the model ran). What a pass reads from each run (the lens at some places, a head) is its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from esmc_desktop.engine.types import Progress, StageTimes, report_progress
from esmc_desktop.errors import Cancelled
from esmc_desktop.mllm.runtime import ImageRun, LlavaRuntime
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.prefetch import Prefetch
from esmc_desktop.photos.scan import Photo, Skipped


@dataclass
class PhotoRun:
    """One readable photo: its index in the list given, the decoded image, the model's run (None when
    the photo needed no prompt) and the seconds that run took."""

    index: int
    photo: Photo
    image: Any
    run: ImageRun | None
    seconds: float = 0.0


class PhotoLoop:
    """Runs photos through one runtime; `skipped` and `failed` (indices) say which could not be read."""

    def __init__(self, rt: LlavaRuntime, stage: str, *, progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None, cancelled: str = "cancelled",
                 times: StageTimes | None = None, skipped: list[Skipped] | None = None,
                 decode: Callable[[Photo], Any] | None = None) -> None:
        """`skipped`: where unreadable photos are recorded (default: a list of the loop's own). `decode` None:
        at the vision encoder's size (its input side, or larger)."""
        self.rt, self.stage, self.progress, self.cancel, self.cancelled = rt, stage, progress, cancel, cancelled
        self.times = times if times is not None else StageTimes()
        self.skipped = skipped if skipped is not None else []
        self.failed: set[int] = set()
        self.decode = decode or (lambda photo: load_rgb(photo.path, min_side=rt.image_size or None))

    def read(self, photos: Sequence[Photo], prompts: Callable[[int], Sequence[str]], *,
             done_before: int = 0, total: int | None = None) -> Iterator[PhotoRun]:
        """Each readable photo with its run on `prompts(index)`; progress counts `done_before` photos as done
        already, out of `total` (default: those and `photos`)."""
        total = done_before + len(photos) if total is None else total
        times, ran = self.times, 0
        started = time.perf_counter()
        with Prefetch(photos, self.decode) as ready:
            for n, prepared in enumerate(ready):
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled(self.cancelled)
                times.decode += prepared.seconds
                times.photos_decoded += 1
                if prepared.error is not None:
                    self.skipped.append(Skipped(prepared.item.path, str(prepared.error)))
                    self.failed.add(n)
                else:
                    wanted = list(prompts(n))
                    run, seconds = None, 0.0
                    if wanted:
                        model_started = time.perf_counter()
                        run = self.rt.run(prepared.value, wanted)
                        seconds = time.perf_counter() - model_started
                        times.model += seconds
                        ran += 1
                    yield PhotoRun(n, prepared.item, prepared.value, run, seconds)
                report_progress(self.progress, self.stage, done_before + n + 1, total, started, ran)
            times.decode_wait += ready.waited
