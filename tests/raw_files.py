"""Real DNG files for the tests, written with tifffile: a Bayer mosaic, with or without a preview.

A DNG is a TIFF with a few extra tags (Adobe DNG specification 1.4): the sensor data is a CFA
image (PhotometricInterpretation 32803) with its colour pattern, white level and colour matrix;
a camera's preview is the first image (NewSubFileType 1) with the sensor data in a SubIFD.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

WHITE = 65535
# XYZ (D65) -> linear sRGB: with it as ColorMatrix1 the "camera" sees linear sRGB, so the
# demosaiced image comes out in the colours it was made from.
_XYZ_TO_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))


def _srational(values) -> tuple[int, ...]:
    return tuple(v for x in values for v in (round(x * 10000), 10000))


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """An RGGB Bayer mosaic (uint16, linear light) of an 8-bit sRGB image with even sides."""
    linear = ((rgb.astype(np.float64) / 255.0) ** 2.2 * WHITE).astype(np.uint16)
    raw = np.empty(rgb.shape[:2], np.uint16)
    raw[0::2, 0::2] = linear[0::2, 0::2, 0]
    raw[0::2, 1::2] = linear[0::2, 1::2, 1]
    raw[1::2, 0::2] = linear[1::2, 0::2, 1]
    raw[1::2, 1::2] = linear[1::2, 1::2, 2]
    return raw


def write_dng(path: Path, rgb: np.ndarray, preview: str | None = None, preview_size: int | None = None,
              orientation: int = 1) -> Path:
    """A DNG of `rgb` (sides even). `preview`: None, "jpeg" or "rgb" (uncompressed), of `rgb` resized so its
    longer side is `preview_size` (default: as is). `orientation`: the TIFF/EXIF orientation tag."""
    dng_tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "ESMC Test Camera", True),  # UniqueCameraModel
        (50721, "2i", 9, _srational(v for row in _XYZ_TO_SRGB for v in row), True),  # ColorMatrix1
        (50778, "H", 1, (21,), True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (271, "s", 0, "ESMC", True), (272, "s", 0, "Test Camera", True),  # Make, Model
        (274, "H", 1, (orientation,), True),  # Orientation
    ]
    cfa_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50717, "I", 1, (WHITE,), True),  # WhiteLevel
        (50714, "H", 1, (0,), True),  # BlackLevel
    ]
    raw = mosaic(rgb)
    with tifffile.TiffWriter(path) as tif:
        if preview is None:
            tif.write(raw, photometric=32803, subfiletype=0, extratags=dng_tags + cfa_tags, metadata=None)
            return path
        image = Image.fromarray(rgb)
        if preview_size is not None:
            scale = preview_size / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        if preview == "jpeg":
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=95)
            tif.write(iter([buffer.getvalue()]), shape=(image.height, image.width, 3), dtype="uint8",
                      photometric="ycbcr", compression=7, subsampling=(2, 2), rowsperstrip=image.height,
                      subfiletype=1, subifds=1, extratags=dng_tags, metadata=None)
        else:
            tif.write(np.asarray(image), photometric="rgb", subfiletype=1, subifds=1, extratags=dng_tags,
                      metadata=None)
        tif.write(raw, photometric=32803, subfiletype=0, extratags=cfa_tags, metadata=None)
    return path
