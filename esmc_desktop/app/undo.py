"""Undo: put back every photo a move export took away, and take back every keyword a tag export wrote."""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.photos.undo import undo_export as _undo_export
from esmc_desktop.photos.undo import undo_move as _undo_move


def undo_move(out: Path | str) -> int:
    """Returns how many originals were restored; ExportError when `out` holds no move to undo."""
    return _undo_move(out)


def undo_export(out: Path | str) -> tuple[int, int]:
    """(originals restored, files whose keywords were taken back); ExportError when `out` holds nothing to undo."""
    return _undo_export(out)
