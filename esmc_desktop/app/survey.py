"""Count a folder as the sort will: the scan, then every photo opened, so a broken file is counted as skipped
before the sort, not only after it.

The scan knows file types, sizes and duplicates; only decoding finds a truncated JPEG or a
text file named .jpg. The sort decodes every photo with photos.decode.load_rgb and skips,
with the decoder's sentence, those that fail; `survey` decodes with the same function
(small: JPEGs at 1/8 scale) and records the same sentence, so the window's count before a
sort, the window's after it and the command line's are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.scan import Photo, ScanResult, Skipped, scan_folder
from esmc_desktop.errors import Cancelled, ImageError
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.engine.types import Progress

CHECK_SIDE = 64  # pixels: enough for the decoder to read every byte of the image data, as little as it can


def open_photo(photo: Photo) -> None:
    """Decode the photo as the sort does (raises ImageError with the sort's sentence)."""
    load_rgb(photo.path, min_side=CHECK_SIDE)


@dataclass
class Survey:
    """What the sort will use and what it will skip, with why; `broken` are the photos that do not decode."""

    photos: list[Photo]
    skipped: list[Skipped]
    broken: dict[Path, str]  # photo file -> the decoder's sentence


def survey(found: ScanResult, opener: Callable[[Photo], object] = open_photo,
           feedback: Feedback | None = None) -> Survey:
    """Open each photo of a scan (with `opener`, e.g. one that also keeps a thumbnail); the broken ones move to
    the skipped files. Cancelled between photos."""
    feedback = feedback or Feedback()
    photos, skipped, broken = [], list(found.skipped), {}
    for done, photo in enumerate(found.photos, 1):
        if feedback.cancel.is_set():
            raise Cancelled("Stopped checking the photos.")
        try:
            opener(photo)
            photos.append(photo)
        except ImageError as e:
            skipped.append(Skipped(photo.path, str(e)))
            broken[photo.path] = str(e)
        if feedback.progress is not None:
            feedback.progress(Progress("checking photos", done, len(found.photos), 0.0, None))
    return Survey(photos, skipped, broken)


def survey_folder(folder: Path | str, feedback: Feedback | None = None) -> Survey:
    """`scan_folder` and `survey` in one: the counts the sort will report."""
    return survey(scan_folder(folder), feedback=feedback)
