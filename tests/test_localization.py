"""Where a criterion is read: the default rule resists language priors; the paper's rule is kept as written.

The scenarios of a real LLaVA-1.5-7b's lens on LLaMA's vocabulary are in test_lens_simulator.py."""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.method.keywords import keyword_token_ids, parse_keywords
from esmc_desktop.method.localization import keyword_columns, localize
from esmc_desktop.mllm.prompts import prompt_positions
from tests.synthetic_lens import (FIG3_ANSWER, FIG3_ANSWER_ANSWER, FIG3_CAR, FIG3_FIRST_LAYER, FIG3_LAYERS,
                                  FIG3_NOUN, FIG3_PROMPT, FIG3_SUFFIX, fig3_token_text, fig3_tokenize,
                                  make_figure3_photos)

N_PHOTOS, N_LAYERS, N_POSITIONS, N_KEYWORDS = 10, 8, 6, 4
NOUN, LAST = 2, 5
DEEP = (5, 6, 7)


def prior_trap(prior_layers=DEEP, prior_position=LAST) -> np.ndarray:
    """The issue's case: at the criterion noun each photo shows its own answer (4 different keywords, p=0.55) at
    three deep layers; elsewhere every photo shows the same keyword (p=0.7), whatever the photo."""
    probs = np.full((N_PHOTOS, N_LAYERS, N_POSITIONS, N_KEYWORDS), 0.01)
    for photo in range(N_PHOTOS):
        probs[photo, list(DEEP), NOUN, photo % N_KEYWORDS] = 0.55
    probs[:, list(prior_layers), prior_position, 0] = 0.7
    return probs


@pytest.mark.parametrize("case, prior_layers, prior_position", [
    ("prior at the answer slot, same layers", DEEP, LAST),
    ("prior at an earlier layer", (2, 3, 4), LAST),
    ("prior at the same position, earlier layers", (0, 1, 2), NOUN),
])
def test_a_place_where_every_photo_reads_the_same_keyword_never_wins_over_one_that_tells_them_apart(
        case, prior_layers, prior_position):
    found = localize(prior_trap(prior_layers, prior_position), keywords=["red", "blue", "green", "white"])
    assert (found.layer, found.position) == (DEEP[0], NOUN), case
    assert not found.fallback
    assert "10 of 10 photos read a keyword of their own" in found.message and "4 different keywords" in found.message
    assert "the next blocks keep that reading" in found.message
    assert "10 of 10 photos read 'red' there alike" in found.message  # says what it skipped, and why
    assert "language prior" in found.message


def test_a_prior_that_the_photo_overrules_only_now_and_then_does_not_win_either():
    """Where the answer first forms, an LLM's prior often still speaks for most photos: 9 of 10 read it there."""
    probs = prior_trap(prior_layers=(1, 2), prior_position=NOUN)
    probs[3, [1, 2], NOUN, :] = [0.01, 0.01, 0.7, 0.01]  # one photo's own answer breaks through
    found = localize(probs, keywords=["red", "blue", "green", "white"])
    assert (found.layer, found.position) == (DEEP[0], NOUN)
    assert "Skipped the sharpest place, layer 1, position 2: 9 of 10 photos read 'red' there alike" in found.message
    assert "language prior" in found.message


def test_the_papers_rule_as_written_counts_every_keyword_and_falls_for_an_earlier_prior():
    found = localize(prior_trap((2, 3, 4), LAST), rule="paper")
    assert (found.layer, found.position) == (2, LAST)
    assert found.rule == "paper" and "Algorithm 1" in found.message


def test_the_papers_rule_counts_a_hesitant_photo_twice_the_default_counts_each_photo_once():
    probs = np.zeros((N_PHOTOS, 3, 4, N_KEYWORDS))
    for photo in range(N_PHOTOS):
        for layer in range(3):  # unsure between two keywords, one or the other on top from block to block
            probs[photo, layer, 0, [photo % 4, (photo + 1) % 4]] = [0.45, 0.44][::1 if layer % 2 else -1]
        probs[photo, :, 3, photo % 4] = 0.95  # sure
    assert (localize(probs, rule="paper").layer, localize(probs, rule="paper").position) == (0, 0)
    default = localize(probs)
    assert (default.layer, default.position) == (0, 3)


def test_the_search_span_limits_the_positions_and_a_wider_span_still_skips_the_prior():
    probs = prior_trap((2, 3, 4), LAST)
    assert localize(probs, span=[LAST]).fallback  # only the prior to read there: said, not hidden
    assert "no place tells the 10 sample photos apart" in localize(probs, span=[LAST]).message
    assert localize(probs, span=range(N_POSITIONS)).position == NOUN


def test_among_equally_good_places_the_earlier_layer_wins():
    probs = prior_trap(prior_layers=())
    probs[:, 6:8, 4] = probs[:, 6:8, NOUN]  # as good, later
    found = localize(probs)
    assert (found.layer, found.position) == (DEEP[0], NOUN)
    assert found.ties == ((5, 2), (6, 2), (6, 4), (7, 2), (7, 4))
    assert "the earliest layer of the 5 places that score as high" in found.message


def test_no_keyword_above_the_threshold_falls_back_to_the_most_probable_place_and_says_so():
    probs = prior_trap() * 0.2
    found = localize(probs)
    assert found.fallback and "no keyword reached probability 0.2" in found.message


def figure3_keyword_probs(n: int, seed: int):
    """What the pipeline computes: keywords parsed from a Vicuna-style answer, their mid-sentence first sub-tokens,
    each keyword's summed lens probability at every (layer, position)."""
    photos = make_figure3_photos(n, seed)
    keywords = parse_keywords(FIG3_ANSWER_ANSWER)
    token_ids, membership = keyword_columns(keyword_token_ids(keywords, fig3_tokenize))
    probs = np.stack([(photos.lens(i).prob_of(token_ids) @ membership).reshape(FIG3_LAYERS, len(FIG3_SUFFIX), -1)
                      for i in range(n)])
    return probs, keywords


@pytest.mark.parametrize("seed", range(5))
def test_on_a_figure_3_like_lens_the_default_rule_reads_the_criterion_noun_at_the_earliest_good_layer(seed):
    probs, keywords = figure3_keyword_probs(10, seed)
    span = prompt_positions(FIG3_SUFFIX, FIG3_PROMPT)
    assert [FIG3_SUFFIX[i] for i in span] == ["The", " color", " of", " the", " car", " is"]
    found = localize(probs, span=span, keywords=keywords, tokens=FIG3_SUFFIX)
    # the first layer whose reading stays: where all photos read, or one short of it (p 0.15-0.45 there)
    assert found.position == FIG3_NOUN and found.layer in (FIG3_FIRST_LAYER + 1, FIG3_FIRST_LAYER + 2)
    assert f"layer {found.layer}, token ' color'" in found.message
    wide = localize(probs, span=range(len(FIG3_SUFFIX)), keywords=keywords, tokens=FIG3_SUFFIX)
    assert (wide.layer, wide.position) == (found.layer, found.position)
    assert "Skipped the sharpest place" in wide.message


def test_on_a_figure_3_like_lens_the_papers_rule_takes_the_answer_slots_prior_when_it_may_search_the_template():
    probs, _ = figure3_keyword_probs(10, 0)
    found = localize(probs, span=range(len(FIG3_SUFFIX)), rule="paper")
    assert (found.layer, found.position) == (int(0.6 * FIG3_LAYERS), FIG3_ANSWER)
    in_prompt = localize(probs, span=prompt_positions(FIG3_SUFFIX, FIG3_PROMPT), rule="paper")
    assert (in_prompt.layer, in_prompt.position) == (int(0.7 * FIG3_LAYERS), FIG3_CAR)  # the weaker " red" prior


def test_keyword_forms_are_the_first_sub_tokens_of_the_word_as_written_mid_sentence():
    ids = keyword_token_ids(["Burgundy", "gray"], fig3_tokenize)
    texts = {w: [fig3_token_text(t) for t in v] for w, v in ids.items()}
    assert texts == {"Burgundy": [" Bur", " bur"], "gray": [" gray", " Gray"]}


def test_a_search_span_outside_the_positions_is_refused_in_words():
    from esmc_desktop.method.validation import MethodInputError

    with pytest.raises(MethodInputError, match="search span"):
        localize(prior_trap(), span=[N_POSITIONS])
    with pytest.raises(MethodInputError, match="unknown localization rule 'newest'"):
        localize(prior_trap(), rule="newest")
