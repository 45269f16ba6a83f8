"""Keywords as LLaVA-1.5 (Vicuna) writes them: the parser, the lens tokens, the fallback with too few."""

from __future__ import annotations

import pytest

from esmc_desktop.method.keywords import MIN_KEYWORDS, keyword_question, keyword_token_ids, parse_keywords, \
    too_few_keywords
from esmc_desktop.mllm.runtime import LlavaRuntime

ANSWERS = {
    "bare comma list": ("white, black, silver, gray, red, blue", ["white", "black", "silver", "gray", "red", "blue"]),
    "capitalised list ending in 'and'": ("Red, Blue, Green, and Yellow.", ["Red", "Blue", "Green", "Yellow"]),
    "numbered list": ("1. Rose\n2. Tulip\n3. Daisy\n4. Lily", ["Rose", "Tulip", "Daisy", "Lily"]),
    "preamble, numbered list, closing line": (
        "Sure! Here are some common colors of cars:\n\n1. White\n2. Black\n3. Silver\n4. Gray\n\n"
        "These are just a few examples.", ["White", "Black", "Silver", "Gray"]),
    "'X include a, b, and c' keeps the first item": (
        "Common brands of cars include Toyota, Honda, Ford, Chevrolet, and BMW.",
        ["Toyota", "Honda", "Ford", "Chevrolet", "BMW"]),
    "'The most common X are a, b and c'": (
        "The most common colors of flowers are red, pink, yellow and white.", ["red", "pink", "yellow", "white"]),
    "preamble with a colon, hyphenated names, an acronym": (
        "Sure, here are some common car brands: Toyota, Mercedes-Benz, Rolls-Royce, BMW.",
        ["Toyota", "Mercedes-Benz", "Rolls-Royce", "BMW"]),
    "bullets with a proper name of two words": ("- Toyota\n- Honda\n- Land Rover", ["Toyota", "Honda", "Land Rover"]),
    "plurals in a sentence": ("Some common shapes of objects are circles, squares, triangles, and stars.",
                              ["circles", "squares", "triangles", "stars"]),
    "numbered items with descriptions and bold": (
        "1. **Toyota**: A Japanese brand known for reliability.\n2. Honda - another Japanese brand\n"
        "3. Ford (American)", ["Toyota", "Honda", "Ford"]),
    "one per line after a preamble": ("Sure! Here are some common species of flowers:\nRose\nTulip\nDaisy",
                                      ["Rose", "Tulip", "Daisy"]),
    "'such as', fillers, a shade, synonyms, 'etc.'": (
        "Cars come in many colors, such as red, light blue, gray/grey, silver (very popular), and black, etc.",
        ["red", "gray", "grey", "silver", "black"]),
    "duplicates in another case": ("Red, red, RED, Blue", ["Red", "Blue"]),
}


@pytest.mark.parametrize("style", ANSWERS)
def test_answers_in_the_ways_vicuna_writes_them_give_their_keywords_with_the_models_casing(style):
    answer, keywords = ANSWERS[style]
    assert parse_keywords(answer) == keywords


def test_the_question_asks_for_single_words():
    assert keyword_question("color of the car") == (
        "What are common colors of cars? Answer with single words separated by commas.")


def test_fewer_than_two_keywords_get_a_sentence_that_says_what_to_do_and_what_happens_meanwhile():
    assert MIN_KEYWORDS == 2
    message = too_few_keywords("brand of the car", parse_keywords("I'm not sure."))
    assert "fewer than 2 usable keywords (none)" in message
    assert '--keywords "brand of the car=a,b,c"' in message and "default place" in message
    assert "only 'Toyota'" in too_few_keywords("brand of the car", ["Toyota"])
    assert too_few_keywords("brand of the car", ["Toyota", "BMW"]) is None


def test_the_lens_looks_at_each_keywords_first_sub_token_as_written_mid_sentence_in_every_case_form(tiny):
    forms = {"Red": ["Red", "red"], "blue": ["blue", "Blue"], "BMW": ["BMW", "bmw", "Bmw"]}
    with LlavaRuntime(tiny.f16.lm, n_ctx=256) as rt:
        ids = keyword_token_ids(list(forms), rt.tokenize, rt.token_text)
        head = rt.tokenize("The car is")

        def first_piece(form: str) -> int:
            """The first piece of the word in a sentence that carries more than a space."""
            tokens = rt.tokenize(f"The car is {form}")
            assert tokens[:len(head)] == head
            return next(t for t in tokens[len(head):] if rt.token_text(t).strip())

        expected = {w: list(dict.fromkeys(first_piece(f) for f in fs)) for w, fs in forms.items()}
    assert ids == expected
    assert len(ids["Red"]) == 2  # the model's casing and the lower-case form are different tokens
