"""Look at a photo folder before sorting: the photos found and every file that will be skipped, with why."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from esmc_desktop.app import checks
from esmc_desktop.photos.scan import Photo, ScanResult, ScanRules, Skipped, display, scan

__all__ = ["Photo", "ScanResult", "Skipped", "display", "scan_folder", "scan_rules"]


def scan_rules(exclude: Sequence[str] = (), out: Path | str | None = None) -> ScanRules:
    """What a scan passes over besides earlier exports: the `exclude` glob patterns and the output folder."""
    return ScanRules(tuple(exclude), (Path(out),) if out is not None else ())


def scan_folder(folder: Path | str, exclude: Sequence[str] = (), out: Path | str | None = None) -> ScanResult:
    """The distinct photos under `folder` (with subfolders) and the files not used, each with its reason.

    Earlier ESMC exports, the output folder `out` and what the `exclude` glob patterns match are passed over.
    """
    return scan(checks.photo_folder(folder), rules=scan_rules(exclude, out))
