"""A synthetic photo world with independent attributes: object colour, object shape, background.

Deterministic from a seed. Position, size, rotation, lighting and pixel noise
vary per photo, and the backgrounds share hues with some object colours, so no
single pixel statistic gives any attribute away. Used for the demo model's
training data, for `esmc-desktop demo`, and for benchmarks; labels never reach
the method, only the metrics.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, PngImagePlugin

# Every photo the writers below save carries this PNG text chunk, so the app can tell the
# demo model's own world from a user's photos (where the demo model must say it is blind).
WORLD_TAG = ("Software", "esmc-desktop synthetic world")
_SAMPLED = 8  # photos looked at to decide whether a folder is the generated world

COLORS = {
    "red": (205, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200),
    "yellow": (230, 200, 30), "purple": (130, 50, 160), "orange": (235, 120, 20),
}
SHAPES = ("circle", "square", "triangle", "star", "cross")
BACKGROUNDS = ("sky", "grass", "sand", "brick")
CRITERIA = {"color of the object": "color", "shape of the object": "shape", "background of the photo": "background"}


@dataclass(frozen=True)
class PhotoSpec:
    color: str
    shape: str
    background: str
    seed: int

    def label(self, attribute: str) -> str:
        return getattr(self, attribute)


def _background(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == "sky":
        base = np.stack([120 + 60 * yy, 170 + 50 * yy, 235 + 0 * yy], -1)
        for _ in range(rng.integers(1, 4)):
            cx, cy, r = rng.random(), rng.random() * 0.6, 0.08 + 0.1 * rng.random()
            cloud = np.exp(-(((xx - cx) / (2 * r)) ** 2 + ((yy - cy) / r) ** 2))
            base = base * (1 - cloud[..., None]) + 250 * cloud[..., None]
    elif kind == "grass":
        base = np.stack([60 + 30 * yy, 130 + 40 * rng.random((size, size)), 50 + 0 * yy], -1)
    elif kind == "sand":
        base = np.stack([215 + 0 * yy, 190 + 10 * xx, 140 + 0 * yy], -1) + rng.normal(0, 12, (size, size, 1))
    else:
        rows = (yy * 8).astype(int)
        mortar = ((yy * 8) % 1 < 0.12) | (((xx * 5 + 0.5 * (rows % 2)) % 1) < 0.06)
        base = np.where(mortar[..., None], [200, 195, 185], [150, 70, 55]).astype(float)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        pts = [(math.cos(a), math.sin(a)) for a in np.linspace(math.pi / 4, 2 * math.pi + math.pi / 4, 4, endpoint=False)]
    elif shape == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in np.linspace(-math.pi / 2, 1.5 * math.pi, 3, endpoint=False)]
    elif shape == "star":
        pts = [((1 if i % 2 == 0 else 0.45) * math.cos(a), (1 if i % 2 == 0 else 0.45) * math.sin(a))
               for i, a in enumerate(np.linspace(-math.pi / 2, 1.5 * math.pi, 10, endpoint=False))]
    else:  # cross
        w = 0.33
        pts = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]


def render(spec: PhotoSpec, size: int = 128) -> Image.Image:
    """One photo of the world; the same spec always gives the same pixels."""
    rng = np.random.default_rng(spec.seed)
    img = _background(spec.background, size, rng)
    draw = ImageDraw.Draw(img)
    r = size * (0.16 + 0.12 * rng.random())
    cx, cy = size * (0.3 + 0.4 * rng.random()), size * (0.3 + 0.4 * rng.random())
    color = tuple(int(np.clip(c * (0.8 + 0.35 * rng.random()), 0, 255)) for c in COLORS[spec.color])
    if spec.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color, outline=(30, 30, 30))
    else:
        draw.polygon(_shape_points(spec.shape, cx, cy, r, rng.random() * 2 * math.pi), fill=color, outline=(30, 30, 30))
    img = img.filter(ImageFilter.GaussianBlur(0.4 + 0.6 * rng.random()))
    arr = np.asarray(img, dtype=float) * (0.75 + 0.45 * rng.random())  # lighting
    arr += rng.normal(0, 6, arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def sample_specs(n: int, seed: int = 0) -> list[PhotoSpec]:
    """n photos with independent, uniformly drawn attributes."""
    rng = np.random.default_rng(seed)
    colors, backgrounds = list(COLORS), list(BACKGROUNDS)
    return [PhotoSpec(colors[rng.integers(len(colors))], SHAPES[rng.integers(len(SHAPES))],
                      backgrounds[rng.integers(len(backgrounds))], int(rng.integers(2**31))) for _ in range(n)]


def write_photo_folder(folder: Path | str, n: int, seed: int = 0, size: int = 128) -> list[tuple[Path, PhotoSpec]]:
    """A flat folder of photos (what a user would point the app at), with their hidden labels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, spec in enumerate(sample_specs(n, seed)):
        path = folder / f"photo-{i:04d}.png"
        _save(render(spec, size), path)
        out.append((path, spec))
    return out


def write_dataset(folder: Path | str, n: int, seed: int = 0, size: int = 128,
                  criteria: dict[str, str] = CRITERIA) -> Path:
    """The ESMC dataset layout: <criterion>/<label>/<image>, each photo once under every criterion."""
    folder = Path(folder)
    for i, spec in enumerate(sample_specs(n, seed)):
        img = render(spec, size)
        for criterion, attribute in criteria.items():
            target = folder / criterion / spec.label(attribute)
            target.mkdir(parents=True, exist_ok=True)
            _save(img, target / f"photo-{i:04d}.png")
    return folder


def _save(img: Image.Image, path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text(*WORLD_TAG)
    img.save(path, pnginfo=info)


def _is_world_photo(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return img.info.get(WORLD_TAG[0]) == WORLD_TAG[1]
    except (OSError, ValueError):
        return False


def is_generated_world(folder: Path | str) -> bool:
    """True when the first photos under `folder` were all written by this generator (checked by their tag)."""
    from esmc_desktop.photos.scan import PHOTO_SUFFIXES

    sampled = 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() not in PHOTO_SUFFIXES:
                continue
            if not _is_world_photo(Path(root) / name):
                return False
            sampled += 1
            if sampled == _SAMPLED:
                return True
    return sampled > 0
