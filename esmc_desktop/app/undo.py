"""Undo: put back every photo a move export took away, and remove the copies it made."""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.photos.export import undo_move as _undo_move


def undo_move(out: Path | str) -> int:
    """Returns how many originals were restored; ExportError when `out` holds no move to undo."""
    return _undo_move(out)
