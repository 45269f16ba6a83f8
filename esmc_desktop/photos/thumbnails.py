"""Small JPEG previews of photos, cached on disk by content hash so a folder opens fast the second time.

The cache heals: a preview that is not a whole JPEG (garbage, or cut short by a crash or a
full disk) or a cache folder that is not a folder is moved aside with the time in its name
and made again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from esmc_desktop.files import atomic_path, move_aside
from esmc_desktop.photos.cache import default_cache_dir
from esmc_desktop.photos.decode import load_rgb

DEFAULT_SIZE = 160
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


def _whole_jpeg(path: Path) -> bool:
    """Starts with a JPEG's first marker and ends with its last: a cheap test for garbage and truncation."""
    with path.open("rb") as f:
        start = f.read(2)
        f.seek(-2, 2)
        return start == JPEG_START and f.read(2) == JPEG_END


class ThumbnailCache:
    """`thumbnail(path, sha)` returns the cached preview file, making it first if needed.

    Safe to call from several threads: each file is written under a temporary name and renamed.
    """

    def __init__(self, folder: Path | str | None = None, size: int = DEFAULT_SIZE) -> None:
        if size < 16:
            raise ValueError(f"thumbnail size must be at least 16 pixels, got {size}")
        self.folder = Path(folder) if folder is not None else default_cache_dir() / "thumbnails"
        self.size = size
        self._folder_lock = threading.Lock()

    def path_for(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}-{self.size}.jpg"

    def thumbnail(self, photo: Path | str, sha256: str) -> Path:
        """The preview of `photo`; raises ImageError (naming the file) when it cannot be decoded."""
        target = self.path_for(sha256)
        if target.is_file():
            if target.stat().st_size >= 4 and _whole_jpeg(target):
                return target
            move_aside(target, "is a damaged thumbnail")
        image = load_rgb(photo, min_side=self.size)  # decoded small: a 24 MP JPEG at 1/8 scale
        image.thumbnail((self.size, self.size))
        self._make_folder(target.parent)
        with atomic_path(target) as partial:
            image.save(partial, "JPEG", quality=85)
        return target

    def _make_folder(self, folder: Path) -> None:
        """Create the cache folders, moving aside a file that stands where one of them should be."""
        with self._folder_lock:
            for part in (self.folder, folder):
                if part.exists() and not part.is_dir():
                    move_aside(part, "stands where the thumbnail cache folder should be")
            folder.mkdir(parents=True, exist_ok=True)
