"""What can be checked before the long work starts, so a mistake costs seconds, not a photo pass.

Each check raises an EsmcError whose sentence says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from esmc_desktop.errors import FolderError, OutputExistsError, SettingsError
from esmc_desktop.mllm.gguf_files import check_pair, image_tokens, read_info

# Room for everything in the context besides the image: the chat template's system prompt
# (about 35 tokens for llava_v1), "USER:", the criterion prompt and "ASSISTANT:".
PROMPT_ROOM = 64


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


def context_size(n_ctx: int | None, mmproj: Path | str | None = None) -> None:
    """The context holds one image and a prompt: the image's tokens (576 for LLaVA-1.5) plus PROMPT_ROOM."""
    if n_ctx is None:  # the runtime sizes it to one photo and its prompts
        return
    image = image_tokens(read_info(mmproj)) if mmproj is not None else 0
    need = image + PROMPT_ROOM
    if n_ctx < need:
        what = f"one image takes {image} tokens and the prompt about {PROMPT_ROOM}" if image else \
            f"the prompt needs about {PROMPT_ROOM} tokens"
        raise SettingsError(f"a context of {n_ctx} tokens is too small: {what}; give at least {need} "
                            "(or leave --n-ctx out: the default fits one photo and its prompts)")
