"""Showing photos: which files are photos, a photo decoded for the screen, thumbnails cached on disk."""

from __future__ import annotations

from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.scan import PHOTO_SUFFIXES
from esmc_desktop.photos.thumbnails import DEFAULT_SIZE, ThumbnailCache

__all__ = ["DEFAULT_SIZE", "PHOTO_SUFFIXES", "ThumbnailCache", "load_rgb"]
