"""How a use case talks back while it works: progress, one-line notes, and the user's cancel."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from esmc_desktop.progress import Progress


@dataclass
class Feedback:
    """Given to every long use case. The CLI draws bars and prints notes; the window's job runner
    turns both into signals and sets `cancel` when the user presses Cancel."""

    progress: Callable[[Progress], None] | None = None
    note: Callable[[str], None] | None = None  # a sentence the user should see once (where the model runs)
    cancel: threading.Event = field(default_factory=threading.Event)

    def say(self, sentence: str) -> None:
        if self.note is not None:
            self.note(sentence)
