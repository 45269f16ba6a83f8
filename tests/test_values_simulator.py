"""The `other` rule on readings like a real 7B's (tests/values_simulator.py): answer mass 0.2-0.6 spread over the
word's forms, synonyms, sub-word pieces and lead-ins, with a prior and look-alikes, on LLaMA's real vocabulary.

Each value of two worlds is left out in turn, at three seeds and four answer-mass levels; the figures are those
docs/values.md tabulates (benchmarks/values_simulator.py prints them).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.values_simulator import LEVELS, WORLDS, draw, leave_out

SEEDS = range(3)


@pytest.fixture(scope="module")
def figures(llama_vocab):
    """(world, level) -> per left-out value and seed: (left-out photos to other, named photos to other, named right)."""
    out = {}
    for world in WORLDS:
        for level in LEVELS:
            rows = []
            for seed in SEEDS:
                drawn = draw(world, llama_vocab, level, seed)
                rows += [leave_out(drawn, llama_vocab, value) for value in drawn.values]
            out[world, level] = np.array([[f.left_out_to_other, f.named_to_other, f.named_right] for f in rows])
    return out


def test_the_readings_are_diffuse_as_a_7bs_the_value_word_taking_a_fraction_of_the_answer(llama_vocab):
    drawn = draw("place", llama_vocab, 0.3, seed=0)
    beach = llama_vocab.tokenize("is beach")[-1]
    photos = np.flatnonzero(np.array(drawn.values)[drawn.labels] == "beach")
    top = np.asarray(drawn.X[photos].max(axis=1).todense()).ravel()
    assert np.median(np.asarray(drawn.X[photos, beach].todense()).ravel()) < 0.2
    assert np.median(top) < 0.3  # nothing near the demo model's 0.99


@pytest.mark.parametrize("world", WORLDS)
def test_photos_of_a_left_out_value_go_to_other_and_the_named_ones_stay_at_every_mass_level(figures, world):
    for level in LEVELS:
        table = figures[world, level]
        left_out, named, right = table.mean(axis=0)
        assert named <= 0.09 and table[:, 1].max() <= 0.12, (level, named)  # the named values' photos stay
        assert right >= 0.9, (level, right)
        if level >= 0.3:
            assert left_out >= 0.94 and table[:, 0].min() >= 0.8, (level, left_out)
        else:  # at 0.2 the look-alikes and the prior come near a soft reading: most, not all, go to `other`
            assert left_out >= 0.75 and table[:, 0].min() >= 0.45, (level, left_out)
