"""Scanning and decoding a hostile folder: nothing crashes, every skip has a reason."""

from __future__ import annotations

import os

import numpy as np

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
    from PIL import Image

    root = build_hostile_folder(tmp_path / "photos")
    sixteen = np.asarray(load_rgb(root / "sixteen-bit.png"))
    assert sixteen.dtype == np.uint8 and 0 < sixteen.mean() < 255 and len(np.unique(sixteen)) > 50
    assert load_rgb(root / "animated.gif").size == (56, 56)
    rotated = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    rotated.save(root / "exif.jpg", exif=exif)
    assert load_rgb(root / "exif.jpg").size == (20, 40)
