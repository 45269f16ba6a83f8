"""Open a photo file as an upright RGB image, or say clearly why it can't be used.

A camera photo has 12 to 48 million pixels; the model sees a few hundred on a
side and a thumbnail fewer still. Callers say the smallest side they need
(`min_side`) and the photo is decoded only that large: JPEGs through the
decoder's own scaled decode (draft mode: 1/2, 1/4 or 1/8 during the inverse
DCT, several times faster and a fraction of the memory), every other format
shrunk right after decoding, before orientation and colour conversions touch
every pixel. The result is never smaller than `min_side` on either side
(unless the photo itself is), so what the caller resizes from is at least as
sharp as what it needs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from esmc_desktop.errors import ImageError
from esmc_desktop.photos.raw import is_raw, load_raw

MAX_PIXELS = 100_000_000  # a 100-megapixel photo is fine; more is likely a decompression bomb
# Modes whose pixels can be averaged (box reduce); palette and 1-bit images are reduced after conversion.
_REDUCIBLE_MODES = frozenset({"RGB", "RGBA", "RGBX", "L", "LA", "CMYK", "YCbCr", "I", "F"})

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


def _reduce(img: Image.Image, min_side: int | None) -> Image.Image:
    """Shrink by a whole factor while both sides stay at least `min_side` (box filter: no aliasing)."""
    if min_side is None or img.mode not in _REDUCIBLE_MODES:
        return img
    factor = min(img.width, img.height) // min_side
    return img.reduce(factor) if factor >= 2 else img


def load_rgb(path: Path | str, max_pixels: int = MAX_PIXELS, min_side: int | None = None) -> Image.Image:
    """Decode `path`, apply its EXIF orientation, convert to 8-bit RGB (first frame of animations).

    With `min_side`, both sides of the result are at least `min_side` pixels (or the photo's own
    size), and otherwise as small as the decoder can make them cheaply.
    """
    if min_side is not None and min_side < 1:
        raise ValueError(f"min_side must be at least 1, got {min_side}")
    if is_raw(path):  # LibRaw: the embedded preview when it is big enough, else a half-size demosaic
        return _reduce(load_raw(path, max_pixels), min_side)
    _register_heif()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > max_pixels:
                    raise ImageError(f"{path.name}: {img.width}x{img.height} pixels is more than the limit of {max_pixels}")
                img.seek(0)
                if min_side is not None:
                    img.draft(None, (min_side, min_side))  # JPEG only; other formats ignore it
                img.load()
                img = _reduce(ImageOps.exif_transpose(img), min_side)
                if img.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits, don't clip
                    img = Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
                if img.mode in ("RGBA", "LA", "P", "PA"):
                    rgba = img.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img = _reduce(Image.alpha_composite(background, rgba), min_side)
                return _reduce(img.convert("RGB"), min_side)
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
