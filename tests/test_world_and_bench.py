"""The synthetic photo world (the bench itself: tests/test_bench.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image
from sklearn.metrics import normalized_mutual_info_score

from esmc_desktop.demo.world import BACKGROUNDS, COLORS, CRITERIA, SHAPES, render, sample_specs, write_dataset


def test_the_world_is_deterministic_and_its_attributes_are_independent():
    specs = sample_specs(600, seed=3)
    assert specs == sample_specs(600, seed=3)
    assert np.array_equal(np.asarray(render(specs[0])), np.asarray(render(specs[0])))
    assert set(Counter(s.color for s in specs)) == set(COLORS)
    assert set(Counter(s.shape for s in specs)) == set(SHAPES)
    assert set(Counter(s.background for s in specs)) == set(BACKGROUNDS)
    colors, shapes, backgrounds = ([s.color for s in specs], [s.shape for s in specs], [s.background for s in specs])
    assert normalized_mutual_info_score(colors, shapes) < 0.05
    assert normalized_mutual_info_score(colors, backgrounds) < 0.05


def test_no_single_pixel_statistic_gives_the_colour_away():
    """The mean colour of a photo is dominated by its background, not by the object's colour."""
    specs = sample_specs(300, seed=4)
    means = np.stack([np.asarray(render(s, 64), float).mean(axis=(0, 1)) for s in specs])
    from sklearn.cluster import KMeans

    by_mean = KMeans(len(COLORS), n_init=4, random_state=0).fit_predict(means)
    assert normalized_mutual_info_score([s.color for s in specs], by_mean) < 0.5


def test_dataset_layout_has_each_photo_once_under_every_criterion(tmp_path):
    root = write_dataset(tmp_path / "ds", 12, seed=1, size=32)
    assert sorted(p.name for p in root.iterdir()) == sorted(CRITERIA)
    for criterion in CRITERIA:
        files = sorted(f.name for f in (root / criterion).rglob("*.png"))
        assert files == [f"photo-{i:04d}.png" for i in range(12)]
    assert Image.open(next((root / "shape of the object").rglob("*.png"))).size == (32, 32)
