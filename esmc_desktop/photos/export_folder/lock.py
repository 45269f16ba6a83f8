"""One writer per output folder: OUT/.esmc/lock holds the process id of the run writing there.

A second run (or a window export) into the same folder is refused with a sentence rather than
mixing two runs' files under one manifest. A lock left by a process that no longer runs (killed,
crashed) is taken over. Within one process the lock is re-entrant: `cluster` holds it for the
whole run and its export takes it again.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from esmc_desktop.errors import FolderError
from esmc_desktop.files import process_alive, remove_partials
from esmc_desktop.photos.export_folder.layout import LOCK, STATE_DIR

_held: dict[Path, int] = {}
_guard = threading.Lock()


def _owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _take(lock: Path) -> None:
    """Create `lock` with our pid, atomically; take over a stale one; refuse a live one."""
    mine = lock.with_name(f".{LOCK}.{os.getpid()}-{threading.get_ident()}.partial")
    mine.write_text(f"{os.getpid()}\n", encoding="ascii")
    try:
        for _ in range(100):
            try:
                os.link(mine, lock)
                return
            except FileExistsError:
                pid = _owner(lock)
                if pid is not None and process_alive(pid):
                    raise FolderError(
                        f"another esmc-desktop run (process {pid}) is writing into {lock.parent.parent}; "
                        "wait until it is done, or choose another output folder") from None
                stale = lock.with_name(f"{LOCK}.stale-{os.getpid()}")
                try:
                    os.replace(lock, stale)  # one taker wins; a run that finds it gone tries again
                    stale.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
        raise FolderError(f"{lock} keeps changing; is another run starting there? Try again")
    finally:
        mine.unlink(missing_ok=True)


@contextmanager
def output_lock(out: Path | str) -> Iterator[None]:
    """Hold `out` for this process while the block writes there; a killed earlier run's leftovers are removed.

    Raises FolderError (a sentence) when another live run holds it.
    """
    out = Path(out).absolute()
    state = out / STATE_DIR
    made: list[Path] = []
    with _guard:
        if out not in _held:
            made = [p for p in (out, state) if not p.exists()]
            state.mkdir(parents=True, exist_ok=True)
            try:
                _take(state / LOCK)
            except BaseException:
                for p in reversed(made):
                    _remove_empty(p)
                raise
            remove_partials(out)
        _held[out] = _held.get(out, 0) + 1
    done = False
    try:
        yield
        done = True
    finally:
        with _guard:
            _held[out] -= 1
            if not _held[out]:
                del _held[out]
                (state / LOCK).unlink(missing_ok=True)
                for p in reversed(made if not done else []):  # a run that failed before writing leaves nothing
                    _remove_empty(p)


def _remove_empty(folder: Path) -> None:
    """A folder the lock alone made (a run that wrote nothing leaves nothing)."""
    try:
        folder.rmdir()
    except OSError:
        pass
