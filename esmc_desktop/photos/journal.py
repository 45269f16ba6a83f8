"""Journals of what an export changed: one JSON line per step, appended durably, read back even when torn.

A crash or a full disk while a line is written can leave the last line cut short. Reading skips
every line that does not parse and says which, so `undo` restores all the rest and then says
what it could not restore (and fails), instead of restoring nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, NamedTuple

_FIELD = r'"{}": ("(?:[^"\\]|\\.)*"|null|true|false)'


class Torn(NamedTuple):
    """A line that does not read back: what to say about it, and what is left of its text."""

    problem: str
    text: str

    def field(self, key: str, missing=None):
        """A text, null or boolean field that survived whole in the torn line; `missing` when it did not."""
        match = re.search(_FIELD.format(re.escape(key)), self.text)
        return json.loads(match.group(1)) if match else missing


def append(log: IO[str], record: dict, durable: bool = True) -> None:
    """Append one record; with `durable`, on disk before the next step depends on it."""
    log.write(json.dumps(record) + "\n")
    log.flush()
    if durable:
        os.fsync(log.fileno())


def read(path: Path) -> tuple[list[dict], list[Torn]]:
    """(the records that read back whole, the lines that did not)."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records, problems = [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a record")
        except ValueError:
            last = n == len(lines) or (n == len(lines) - 1 and not lines[-1])
            where = "its last line was cut short" if last and not raw.endswith(b"\n") else f"line {n} is damaged"
            problems.append(Torn(f"{path.name}: {where} ({len(line)} bytes), so the step it recorded is unknown",
                                 line.decode("utf-8", "replace")))
            continue
        records.append(record)
    return records, problems
