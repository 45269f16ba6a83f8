"""Small JPEG previews of photos, cached on disk by content hash so a folder opens fast the second time."""

from __future__ import annotations

import os
from pathlib import Path

from esmc_desktop.photos.cache import default_cache_dir
from esmc_desktop.photos.decode import load_rgb

DEFAULT_SIZE = 160


class ThumbnailCache:
    """`thumbnail(path, sha)` returns the cached preview file, making it first if needed.

    Safe to call from several threads: each file is written under a temporary name and renamed.
    """

    def __init__(self, folder: Path | str | None = None, size: int = DEFAULT_SIZE) -> None:
        if size < 16:
            raise ValueError(f"thumbnail size must be at least 16 pixels, got {size}")
        self.folder = Path(folder) if folder is not None else default_cache_dir() / "thumbnails"
        self.size = size

    def path_for(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}-{self.size}.jpg"

    def thumbnail(self, photo: Path | str, sha256: str) -> Path:
        """The preview of `photo`; raises ImageError (naming the file) when it cannot be decoded."""
        target = self.path_for(sha256)
        if target.is_file():
            return target
        image = load_rgb(photo)
        image.thumbnail((self.size, self.size))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{id(image)}.partial")
        image.save(partial, "JPEG", quality=85)
        os.replace(partial, target)
        return target
