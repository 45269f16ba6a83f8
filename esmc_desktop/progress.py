"""How far a long job is, in one shape for every job: the photo loop, the export, a model download.

On the shared floor (beside errors.py) so that photos/ and mllm/ report in it too and no layer
above them converts one shape into another by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Progress:
    """`done` of `total` in one stage (photos; bytes while downloading `name`).

    `photos_per_second` and `seconds_left` are the job's own figures, counting only the photos the
    model ran (0.0 and None where it has none); `name` is the file a stage works on, "" when it is
    the whole job's.
    """

    stage: str
    done: int
    total: int
    photos_per_second: float = 0.0
    seconds_left: float | None = None
    name: str = ""


ProgressCallback = Callable[[Progress], None]
