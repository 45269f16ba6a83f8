"""What can be checked before the long work starts, so a mistake costs seconds, not a photo pass.

Each check raises an EsmcError whose sentence says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from esmc_desktop.errors import FolderError, OutputExistsError
from esmc_desktop.mllm.gguf_files import check_pair


def photo_folder(folder: Path | str) -> Path:
    """An existing folder (searched recursively later)."""
    folder = Path(folder)
    if not folder.exists():
        raise FolderError(f"the photo folder {folder} does not exist; give the folder that holds your photos")
    if not folder.is_dir():
        raise FolderError(f"{folder} is a file, not a folder; give the folder that holds your photos "
                          "(it is searched with its subfolders)")
    return folder


def output_folder(out: Path | str) -> Path:
    """A folder that exists or can be made, and can be written: not a file, not read-only."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; give a folder (new or existing) to write the sorted photos into")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise FolderError(f"{out} can't be made: {existing} is a file; choose another output folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FolderError(f"{existing} can't be written (permission denied); choose another output folder")
    return out


def model_files(lm: Path | str, mmproj: Path | str) -> None:
    """Both GGUF files readable, of the right kinds, and a pair (ModelFileError otherwise)."""
    check_pair(lm, mmproj)
