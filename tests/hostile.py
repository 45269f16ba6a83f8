"""A folder of hostile files, built by the tests, next to a few good photos."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from models.tiny_llava import sample_image

# file name -> the words its skip reason must contain (None: must be used);
# good-0.png and copy-of-good-0.png hold the same bytes: one is used, the other skipped as a duplicate
EXPECTED = {
    "good-1.jpg": None, "good-2.webp": None, "good-3.bmp": None, "good-4.tiff": None,
    "sixteen-bit.png": None, "phone.heic": None, "cmyk.jpg": None, "palette-transparent.png": None, "animated.gif": None,
    "truncated.jpg": "damaged or truncated", "zero.jpg": "empty", "text.jpg": "not an image",
    "bomb.png": "too many pixels", "notes.txt": "not a photo type", "broken-link.jpg": "broken symbolic link",
    "loop": "symlink loop",
}
NON_UTF8 = b"caf\xe9.png"


def build_hostile_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, suffix in enumerate(["png", "jpg", "webp", "bmp", "tiff"]):
        Image.fromarray(sample_image(i)).save(root / f"good-{i}.{suffix}")
    from pillow_heif import register_heif_opener

    register_heif_opener()
    Image.fromarray(sample_image(14)).save(root / "phone.heic")
    Image.fromarray((np.arange(56 * 56, dtype=np.uint16).reshape(56, 56) * 20)).save(root / "sixteen-bit.png")
    Image.fromarray(sample_image(7)).convert("CMYK").save(root / "cmyk.jpg")
    pal = Image.fromarray(sample_image(8)).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(root / "palette-transparent.png", transparency=0)
    frames = [Image.fromarray(sample_image(s)) for s in (9, 10)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    buf = io.BytesIO()
    Image.fromarray(sample_image(11)).resize((400, 400)).save(buf, "JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a picture\n")
    Image.new("1", (12000, 12000)).save(root / "bomb.png")
    (root / "notes.txt").write_text("shopping list")
    os.symlink(root / "does-not-exist.jpg", root / "broken-link.jpg")
    (root / "copy-of-good-0.png").write_bytes((root / "good-0.png").read_bytes())
    os.symlink(root, root / "loop")
    Image.fromarray(sample_image(12)).save(root / "unreadable.png")
    os.chmod(root / "unreadable.png", 0)
    Image.fromarray(sample_image(13)).save(os.path.join(os.fsencode(root), NON_UTF8))
    return root
