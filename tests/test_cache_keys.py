"""Cached vectors and targets are never reused after a change of chat template or localization rule."""

from __future__ import annotations

import sqlite3

import numpy as np

from esmc_desktop.mllm.prompts import LLAVA_HF, LLAVA_V1
from esmc_desktop.photos.cache import FeatureCache, VectorKey
from esmc_desktop.engine.settings import MethodSettings
from esmc_desktop.engine.types import Criterion
from tests.test_pipeline import make_photos, run_job


def test_a_vector_cached_under_one_template_is_not_served_under_another(tmp_path):
    vector = (np.arange(3, dtype=np.int32), np.full(3, 1 / 3, np.float32))
    with FeatureCache(tmp_path) as cache:
        cache.put_photo("photo", {VectorKey("model", LLAVA_HF.key, "The color is", 3, 5, "top50-raw"): vector})
        assert cache.get("photo", VectorKey("model", LLAVA_V1.key, "The color is", 3, 5, "top50-raw")) is None
        assert cache.get("photo", VectorKey("model", LLAVA_HF.key, "The color is", 3, 5, "top50-raw")) is not None


def test_changing_the_template_or_the_localization_rule_localizes_again_and_never_reuses_stale_results(tmp_path, tiny):
    photos = make_photos(tmp_path / "photos", 6)
    criteria = [Criterion.parse("color of the object:2", "red,green,blue")]

    def run(**settings):
        return run_job(photos, criteria, tiny.f16.lm, tiny.f16.mmproj, cache_dir=tmp_path / "cache",
                       settings=MethodSettings(**settings))

    def targets() -> int:
        with sqlite3.connect(tmp_path / "cache" / "features.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM localizations").fetchone()[0]

    assert run(template="llava-hf").images_encoded == 6  # the 6 sample photos localized give their own vectors
    assert run(template="llava-hf").images_encoded == 0 and targets() == 1  # all cached
    assert run(template="llava-v1").images_encoded == 6 and targets() == 2  # nothing reused
    paper = run(template="llava-v1", localization="paper")
    assert targets() == 3 and paper.criteria[0].reading.localization.rule == "paper"
    assert paper.images_encoded >= 6  # localized again; vectors at an unchanged place are the same vectors
    wide = run(template="llava-v1", span="template")
    assert targets() == 4 and wide.images_encoded >= 6
