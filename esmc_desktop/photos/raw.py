"""Camera RAW files (CR2, CR3, NEF, ARW, RAF, ORF, RW2, DNG...) read with LibRaw through rawpy.

The model sees a small image (LLaVA-1.5's vision tower takes 336x336), so the JPEG preview
every camera embeds is used when it is at least that big: reading it takes milliseconds,
where demosaicing a 24-megapixel sensor takes seconds. Otherwise the sensor data is
demosaiced at half size (one RGB pixel per 2x2 Bayer block, no interpolation), which is
still far more than the model needs.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from esmc_desktop.errors import ImageError

RAW_SUFFIXES = frozenset({
    ".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".iiq", ".k25", ".kdc", ".mef", ".mos",
    ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
})
MIN_PREVIEW_SIDE = 336  # LLaVA-1.5's CLIP ViT-L/14-336 input: a preview this long on its longer side loses nothing

# LibRaw's `flip` (from the file's orientation) to the PIL transpose that shows the photo upright.
_FLIP = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}


def is_raw(path: Path | str) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


def load_raw(path: Path | str, max_pixels: int, min_preview_side: int = MIN_PREVIEW_SIDE) -> Image.Image:
    """An upright 8-bit RGB image of a RAW file: its embedded preview when big enough, else a half-size demosaic."""
    import rawpy  # on first use: its import takes ~70 ms that folders without RAW files need not pay

    path = Path(path)
    try:
        with rawpy.imread(str(path)) as raw:
            sizes = raw.sizes
            if sizes.raw_width * sizes.raw_height > max_pixels:
                raise ImageError(f"{path.name}: {sizes.raw_width}x{sizes.raw_height} sensor pixels is more than "
                                 f"the limit of {max_pixels}")
            image = _preview(raw, min_preview_side)
            if image is None:
                # LibRaw applies the orientation itself when it demosaics.
                return Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
            # A preview is stored as the sensor saw it; the RAW's orientation says how to turn it. An
            # orientation tag inside the preview JPEG is ignored: cameras disagree on whether they set it.
            return image.transpose(_FLIP[sizes.flip]) if sizes.flip in _FLIP else image
    except ImageError:
        raise
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageError(f"{path.name}: a RAW format LibRaw {rawpy.libraw_version} cannot read "
                         "(convert it to DNG with Adobe DNG Converter, or update rawpy)") from exc
    except rawpy.LibRawIOError as exc:
        raise ImageError(f"{path.name}: damaged or truncated RAW file ({exc})") from exc
    except rawpy.LibRawError as exc:
        raise ImageError(f"{path.name}: LibRaw could not read it ({exc})") from exc
    except PermissionError as exc:
        raise ImageError(f"{path.name}: no permission to read it") from exc
    except OSError as exc:
        raise ImageError(f"{path.name}: can't be read ({exc})") from exc


def _preview(raw, min_side: int) -> Image.Image | None:
    """The embedded preview as RGB when its longer side is at least `min_side`, else None."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with Image.open(io.BytesIO(thumb.data)) as img:
                image = img.convert("RGB")
        else:
            data = np.asarray(thumb.data)
            if data.ndim != 3 or data.shape[2] != 3:
                return None
            image = Image.fromarray((data >> 8 if data.dtype == np.uint16 else data).astype(np.uint8))
    except (UnidentifiedImageError, OSError, ValueError):
        return None  # a broken preview is no reason to give up on the sensor data
    return image if max(image.size) >= min_side else None
