"""Scanning and decoding a hostile folder: nothing crashes, every skip has a reason."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.errors import ImageError
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.scan import scan
from tests.hostile import EXPECTED, NON_UTF8, build_hostile_folder


def _usable(photo_path) -> str | None:
    try:
        img = load_rgb(photo_path)
    except ImageError as exc:
        return str(exc)
    assert img.mode == "RGB" and img.size[0] > 0
    return None


def test_every_file_is_used_or_skipped_with_its_reason(tmp_path):
    root = build_hostile_folder(tmp_path / "photos")
    found = scan(root)
    reasons = {s.path.name: s.reason for s in found.skipped}
    for photo in found.photos:
        problem = _usable(photo.path)
        if problem:
            reasons[photo.path.name] = problem
    used = {p.path.name for p in found.photos} - set(reasons)
    for name, expected in EXPECTED.items():
        if expected is None:
            assert name in used, f"{name} should be used, got {reasons.get(name)}"
        else:
            assert expected in reasons.get(name, ""), f"{name}: {reasons.get(name)!r}"
    assert os.fsdecode(NON_UTF8) in used
    if os.geteuid() != 0:  # root reads any file, so the permission case only exists for normal users
        assert "permission" in reasons["unreadable.png"]
    pair = {"good-0.png", "copy-of-good-0.png"}
    kept = [p for p in found.photos if p.path.name in pair]
    assert len(kept) == 1 and len(kept[0].duplicates) == 1
    assert "same content" in reasons[(pair - {kept[0].path.name}).pop()]


def test_orientation_bit_depth_transparency_and_animation_are_normalised(tmp_path):
    root = build_hostile_folder(tmp_path / "photos")
    sixteen = np.asarray(load_rgb(root / "sixteen-bit.png"))
    assert sixteen.dtype == np.uint8 and 0 < sixteen.mean() < 255 and len(np.unique(sixteen)) > 50
    assert load_rgb(root / "animated.gif").size == (56, 56)
    rotated = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    rotated.save(root / "exif.jpg", exif=exif)
    assert load_rgb(root / "exif.jpg").size == (20, 40)


def _photo_like(width: int, height: int) -> "Image.Image":
    from models.tiny_llava import sample_image

    rng = np.random.default_rng(0)
    scene = np.asarray(Image.fromarray(sample_image(3)).resize((width, height), Image.BILINEAR), np.int16)
    return Image.fromarray((scene + rng.integers(-12, 13, scene.shape)).clip(0, 255).astype(np.uint8))


def test_a_big_jpeg_is_decoded_reduced_but_never_below_the_size_asked_for(tmp_path):
    _photo_like(2400, 1600).save(tmp_path / "big.jpg", quality=90)
    full = load_rgb(tmp_path / "big.jpg")
    small = load_rgb(tmp_path / "big.jpg", min_side=336)
    assert full.size == (2400, 1600)
    assert small.size == (600, 400) and small.mode == "RGB"  # 1/4 scale: 1/8 would be 200 px high
    same_size = np.asarray(full.resize(small.size, Image.BOX), np.float32)
    assert np.abs(np.asarray(small, np.float32) - same_size).mean() < 4
    assert load_rgb(tmp_path / "big.jpg", min_side=5000).size == (2400, 1600)


def test_reduced_decodes_keep_orientation_and_reduce_other_formats_too(tmp_path):
    image = _photo_like(2000, 1000)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg", min_side=200).size == (250, 500)
    image.save(tmp_path / "wide.png")
    assert load_rgb(tmp_path / "wide.png", min_side=300).size == (667, 334)  # 1/3, partial edge blocks kept
    image.save(tmp_path / "wide.tiff")
    assert load_rgb(tmp_path / "wide.tiff", min_side=1000).size == (2000, 1000)


def test_every_hostile_file_gets_the_same_verdict_when_decoded_small(tmp_path):
    root = build_hostile_folder(tmp_path / "photos")
    for photo in scan(root).photos:
        try:
            expected = load_rgb(photo.path).mode
        except ImageError as exc:
            with pytest.raises(ImageError) as raised:
                load_rgb(photo.path, min_side=16)
            assert str(raised.value) == str(exc)
        else:
            small = load_rgb(photo.path, min_side=16)
            assert small.mode == expected == "RGB" and min(small.size) >= 16


def test_thumbnails_of_big_photos_are_made_from_a_reduced_decode(tmp_path):
    from esmc_desktop.photos.thumbnails import ThumbnailCache

    _photo_like(3000, 2000).save(tmp_path / "big.jpg", quality=90)
    thumb = ThumbnailCache(tmp_path / "thumbs", size=160).thumbnail(tmp_path / "big.jpg", "ab" * 32)
    with Image.open(thumb) as img:
        assert img.size == (160, 107)
