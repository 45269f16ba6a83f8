"""Lens readings of several photos share one projection when the model is fast, and are the same readings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from esmc_desktop.engine.lens_batch import WAIT_SECONDS, LensBatch
from esmc_desktop.mllm.logit_lens import LensParams, LogitLens
from esmc_desktop.photos.scan import Photo


def photo(n: int) -> Photo:
    return Photo(Path(f"/photos/{n}.jpg"), f"sha{n}", 0)


@pytest.fixture
def lens(tiny):
    return LogitLens.from_gguf(tiny.f32.lm, LensParams(top_k=10))


def rows_of(lens: LogitLens, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [(f"criterion {i}", rng.standard_normal(lens.n_embd).astype(np.float32), block)
            for i, block in enumerate([0, lens.n_blocks - 1][:n])]


def test_batched_readings_are_each_rows_own_projection(lens):
    stored = {}
    with LensBatch(lens, lambda p, readings: stored.update({p.sha256: readings})) as batch:
        photos = {photo(n): rows_of(lens, 2, n) for n in range(5)}
        for p, rows in photos.items():
            batch.add(p, rows, model_seconds=0.01)
    for p, rows in photos.items():
        for key, hidden, block in rows:
            alone = lens.project(hidden[None], block)
            ids, probs = stored[p.sha256][key]
            assert np.array_equal(ids, alone.indices[0])
            np.testing.assert_allclose(probs, alone.values[0], rtol=1e-5, atol=1e-7)


def test_a_photo_that_took_long_in_the_model_is_read_at_once_and_quick_ones_wait(lens):
    stored = []
    with LensBatch(lens, lambda p, readings: stored.append(p.sha256)) as batch:
        batch.add(photo(0), rows_of(lens, 1, 0), model_seconds=WAIT_SECONDS * 10)  # a 7B photo on a CPU
        assert stored == ["sha0"]
        for n in range(1, 4):  # photos on a GPU
            batch.add(photo(n), rows_of(lens, 1, n), model_seconds=WAIT_SECONDS / 10)
        assert stored == ["sha0"], "quick photos share the next projection"
    assert stored == ["sha0", "sha1", "sha2", "sha3"], "what is pending is read when the pass ends"


def test_a_stop_still_stores_every_photo_the_model_finished(lens):
    stored = []
    with pytest.raises(KeyboardInterrupt):
        with LensBatch(lens, lambda p, readings: stored.append(p.sha256)) as batch:
            batch.add(photo(0), rows_of(lens, 1, 0), model_seconds=0.01)
            raise KeyboardInterrupt
    assert stored == ["sha0"]
