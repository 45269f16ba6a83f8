"""RAW photos: read through LibRaw (preview or half-size demosaic), upright, thumbnailed, sorted; RAW+JPEG is one photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.errors import ImageError
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.export import ExportRow, export, sources
from esmc_desktop.photos.undo import undo_export
from esmc_desktop.photos.raw import MIN_PREVIEW_SIDE
from esmc_desktop.photos.scan import content_hash, scan
from esmc_desktop.photos.thumbnails import ThumbnailCache
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings
from esmc_desktop.engine.types import Criterion
from esmc_desktop.mllm.gpu import GpuLayers
from models.tiny_llava import sample_image
from tests.raw_files import write_dng
from tests.test_pipeline import run_job


def scene(width: int = 600, height: int = 400, seed: int = 3) -> np.ndarray:
    """A photo whose left half is dark and right half bright, so a wrong rotation shows."""
    rgb = np.asarray(Image.fromarray(sample_image(seed)).resize((width, height))).copy()
    rgb[:, : width // 2] //= 4
    return rgb


def bright_side(image: Image.Image) -> str:
    a = np.asarray(image.convert("L"), dtype=float)
    h, w = a.shape
    sides = {"left": a[:, : w // 4].mean(), "right": a[:, -w // 4:].mean(), "top": a[: h // 4].mean(),
             "bottom": a[-h // 4:].mean()}
    return max(sides, key=sides.get)


@pytest.mark.parametrize("preview", ["jpeg", "rgb"])
def test_a_dng_with_a_preview_big_enough_for_the_model_is_read_from_its_preview(tmp_path, preview):
    rgb = scene()
    image = load_rgb(write_dng(tmp_path / "a.dng", rgb, preview=preview))
    assert image.mode == "RGB" and image.size == (600, 400), "the preview, not a half-size demosaic (300x200)"
    assert np.abs(np.asarray(image, dtype=int) - rgb).mean() < 3


def test_a_dng_without_a_preview_or_with_a_small_one_is_demosaiced_at_half_size(tmp_path):
    rgb = scene()
    for name, kwargs in [("none.dng", {}), ("small.dng", {"preview": "jpeg", "preview_size": MIN_PREVIEW_SIDE // 2})]:
        image = load_rgb(write_dng(tmp_path / name, rgb, **kwargs))
        assert image.size == (300, 200), name
        half = np.asarray(Image.fromarray(rgb).resize((300, 200)), dtype=int)
        assert np.abs(np.asarray(image, dtype=int) - half).mean() < 25, "the colours survive the demosaic"


@pytest.mark.parametrize("orientation, bright", [(1, "right"), (3, "left"), (6, "bottom"), (8, "top")])
@pytest.mark.parametrize("preview", [None, "jpeg"])
def test_the_camera_s_orientation_is_applied_to_the_preview_and_the_demosaic_alike(tmp_path, orientation, bright,
                                                                                 preview):
    image = load_rgb(write_dng(tmp_path / "o.dng", scene(), preview=preview, orientation=orientation))
    assert bright_side(image) == bright
    assert (image.width < image.height) == (orientation in (6, 8))


def test_files_libraw_cannot_open_get_a_reason_not_a_crash(tmp_path):
    (tmp_path / "fake.nef").write_bytes(b"this is not a raw file at all" * 100)
    good = write_dng(tmp_path / "cut.dng", scene()).read_bytes()
    (tmp_path / "cut.dng").write_bytes(good[: len(good) // 3])
    with pytest.raises(ImageError, match="fake.nef: .*(LibRaw|RAW)"):
        load_rgb(tmp_path / "fake.nef")
    with pytest.raises(ImageError, match="cut.dng: "):
        load_rgb(tmp_path / "cut.dng")
    with pytest.raises(ImageError, match="more than the limit"):
        load_rgb(write_dng(tmp_path / "big.dng", scene()), max_pixels=1000)


def test_raw_thumbnails_are_made_upright_like_every_other_photo(tmp_path):
    cache = ThumbnailCache(tmp_path / "thumbs", size=120)
    for name, kwargs in [("p.dng", {"preview": "jpeg", "orientation": 6}), ("n.dng", {"orientation": 6})]:
        path = write_dng(tmp_path / name, scene(), **kwargs)
        with Image.open(cache.thumbnail(path, content_hash(path))) as thumb:
            assert thumb.format == "JPEG" and thumb.size == (80, 120), name
            assert bright_side(thumb) == "bottom"


def raw_jpeg_folder(folder):
    folder.mkdir(parents=True)
    Image.fromarray(scene()).save(folder / "IMG_0001.JPG")
    write_dng(folder / "IMG_0001.DNG", scene(), preview="jpeg")
    write_dng(folder / "IMG_0002.dng", scene(seed=4), preview="jpeg")  # a RAW alone
    Image.fromarray(sample_image(5)).save(folder / "IMG_0003.jpg")  # a JPEG alone
    return folder


def test_a_raw_and_a_jpeg_of_the_same_name_are_one_photo_read_through_the_jpeg(tmp_path):
    folder = raw_jpeg_folder(tmp_path / "photos")
    found = scan(folder)
    assert sorted(p.path.name for p in found.photos) == ["IMG_0001.JPG", "IMG_0002.dng", "IMG_0003.jpg"]
    pair = next(p for p in found.photos if p.path.name == "IMG_0001.JPG")
    assert [c.path.name for c in pair.companions] == ["IMG_0001.DNG"] and not found.skipped
    assert len(scan(folder, pair_raw=False).photos) == 4


def test_a_raw_goes_wherever_its_jpeg_goes_copied_or_tagged(tmp_path):
    folder = raw_jpeg_folder(tmp_path / "photos")
    photos = sources(scan(folder).photos)
    rows = [ExportRow(p, "color", 0, "red", 0.9) for p in photos]
    copied = export(rows, tmp_path / "out", mode="copy")
    assert sorted(p.name for p in (tmp_path / "out" / "color" / "red").iterdir()) == [
        "IMG_0001.DNG", "IMG_0001.JPG", "IMG_0002.dng", "IMG_0003.jpg"]
    assert all(content_hash(Path(r.destination)) == r.sha256 for r in copied)

    raw_bytes = (folder / "IMG_0001.DNG").read_bytes()
    export(rows, tmp_path / "tagged", mode="tags-embedded")
    assert (folder / "IMG_0001.DNG.xmp").is_file(), "a RAW file is never written into: it gets a sidecar"
    assert (folder / "IMG_0001.DNG").read_bytes() == raw_bytes
    assert not (folder / "IMG_0001.JPG.xmp").exists(), "the JPEG holds its keywords itself"
    undo_export(tmp_path / "tagged")
    assert not list(folder.glob("*.xmp"))


def test_raw_photos_are_sorted_like_the_same_picture_as_a_png(tmp_path, tiny):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(8):
        rgb = np.asarray(Image.fromarray(sample_image(i)).resize((MIN_PREVIEW_SIDE, MIN_PREVIEW_SIDE),
                                                                  Image.Resampling.NEAREST))
        Image.fromarray(rgb).save(folder / f"photo-{i}.png")
        if i < 4:  # the same pixels as the PNG, in a RAW file's lossless preview
            write_dng(folder / f"raw-{i}.dng", rgb, preview="rgb")
    write_dng(folder / "no-preview.dng", np.asarray(Image.fromarray(sample_image(9)).resize((112, 112))))
    criteria = [Criterion("color of the object", k=2, keywords=("red", "green", "blue"))]
    result = run_job(folder, criteria, tiny.f16.quantized, tiny.f16.mmproj, cache_dir=tmp_path / "cache",
                     settings=MethodSettings(n_samples=4), compute=ComputeRequest(GpuLayers(0), threads=1))
    names = [p.path.name for p in result.photos]
    assert len(names) == 13 and not result.skipped
    labels = dict(zip(names, result.criteria[0].clustering.labels))
    for i in range(4):
        assert labels[f"raw-{i}.dng"] == labels[f"photo-{i}.png"]
