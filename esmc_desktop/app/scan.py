"""Look at a photo folder before sorting: the photos found and every file that will be skipped, with why."""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.app import checks
from esmc_desktop.photos.scan import Photo, ScanResult, Skipped, display, scan

__all__ = ["Photo", "ScanResult", "Skipped", "display", "scan_folder"]


def scan_folder(folder: Path | str) -> ScanResult:
    """The distinct photos under `folder` (with subfolders) and the files not used, each with its reason."""
    return scan(checks.photo_folder(folder))
