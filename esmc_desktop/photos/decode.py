"""Open a photo file as an upright RGB image, or say clearly why it can't be used."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from esmc_desktop.errors import ImageError

MAX_PIXELS = 100_000_000  # a 100-megapixel photo is fine; more is likely a decompression bomb

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
        except ImportError:
            pass
        _heif_registered = True


def load_rgb(path: Path | str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode `path` fully, apply its EXIF orientation, convert to 8-bit RGB (first frame of animations)."""
    _register_heif()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > max_pixels:
                    raise ImageError(f"{path.name}: {img.width}x{img.height} pixels is more than the limit of {max_pixels}")
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                if img.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits, don't clip
                    img = Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
                if img.mode in ("RGBA", "LA", "P", "PA"):
                    rgba = img.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, rgba)
                return img.convert("RGB")
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path.name}: not an image this program can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path.name}: too many pixels (possible decompression bomb)") from exc
    except PermissionError as exc:
        raise ImageError(f"{path.name}: no permission to read it") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path.name}: damaged or truncated ({exc})") from exc
