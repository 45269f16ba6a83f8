"""Keywords as LLaVA-1.5 (Vicuna) writes them: the parser, the lens tokens, the fallback with too few."""

from __future__ import annotations

import pytest

from esmc_desktop.method.keywords import MIN_KEYWORDS, keyword_question, keyword_token_ids, parse_keywords, \
    review_keywords, too_few_keywords
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
        ["red", "light blue", "gray", "grey", "silver", "black"]),
    "duplicates in another case": ("Red, red, RED, Blue", ["Red", "Blue"]),
    "digits and an ellipsis": ("Ace, 2, 3, ..., 10, Jack, Queen, King", ["Ace", "2", "3", "10", "Jack", "Queen", "King"]),
    "an inline numbered list of phrases": ("1. Wearing sunglasses 2. Wearing regular glasses 3. No glasses",
                                           ["Wearing sunglasses", "Wearing regular glasses", "No glasses"]),
    "numbered with parentheses and digits": ("1) 4 doors\n2) 2 doors\n3) 5 doors", ["4 doors", "2 doors", "5 doors"]),
    "semicolons and a closing sentence": ("beach; mountains; city. These are common places.",
                                          ["beach", "mountains", "city"]),
    "'or' between the last two": ("The person is smiling, frowning or neutral.", ["smiling", "frowning", "neutral"]),
}


@pytest.mark.parametrize("style", ANSWERS)
def test_answers_in_the_ways_vicuna_writes_them_give_their_keywords_with_the_models_casing(style):
    answer, keywords = ANSWERS[style]
    assert parse_keywords(answer) == keywords


def test_the_question_asks_for_single_words():
    assert keyword_question("color of the car") == (
        "What are common colors of cars? Answer with single words separated by commas.")


@pytest.mark.parametrize("criterion, head", [
    ("species of the flower", "common species of flowers"), ("expression of the person", "common expressions of people"),
    ("shape of the leaf", "common shapes of leaves"), ("color of the glasses", "common colors of glasses"),
    ("breed of the sheep", "common breeds of sheep")])
def test_the_question_is_grammatical_for_irregular_nouns(criterion, head):
    assert keyword_question(criterion).startswith(f"What are {head}?")


def test_fewer_than_two_keywords_get_a_sentence_that_says_what_to_do_and_what_happens_meanwhile():
    assert MIN_KEYWORDS == 2
    message = too_few_keywords("brand of the car", parse_keywords("I'm not sure."))
    assert "fewer than 2 usable keywords (none)" in message
    assert '--keywords "brand of the car=a,b,c"' in message and "default place" in message
    assert "only 'Toyota'" in too_few_keywords("brand of the car", ["Toyota"])
    assert too_few_keywords("brand of the car", ["Toyota", "BMW"]) is None


def test_the_lens_looks_at_the_first_piece_of_each_form_that_says_at_least_as_much_as_the_word_as_written(tiny):
    forms = {"Red": ["Red", "red", "Reds"], "blue": ["blue", "Blue", "blues"], "BMW": ["BMW", "bmw", "Bmw"]}
    with LlavaRuntime(tiny.f16.lm, n_ctx=256) as rt:
        ids = keyword_token_ids(list(forms), rt.tokenize, rt.token_text)
        head = rt.tokenize("The car is")

        def first_piece(form: str) -> int:
            """The first piece of the word in a sentence that carries more than a space."""
            tokens = rt.tokenize(f"The car is {form}")
            assert tokens[:len(head)] == head
            return next(t for t in tokens[len(head):] if rt.token_text(t).strip())

        def says_as_much(form: str, written: str) -> bool:
            piece = rt.token_text(first_piece(form)).strip()
            return piece == form or len(piece) > len(rt.token_text(first_piece(written)).strip())

        expected = {w: list(dict.fromkeys([first_piece(fs[0])] + [first_piece(f) for f in fs[1:]
                                                                  if says_as_much(f, fs[0])])) for w, fs in forms.items()}
    assert ids == expected


# On LLaMA's real vocabulary (tests/data/ggml-vocab-llama-spm.gguf): what LLaVA-1.5-7b's lens reads
CAR_MAKES = ("Toyota, Honda, Ford, Chevrolet, BMW, Mercedes-Benz, Audi, Volkswagen, Nissan, Hyundai, Kia, Subaru, "
             "Mazda, Tesla, Lexus, Jeep, Porsche, Volvo, Ferrari, Lamborghini")
FLOWERS = ("rose, tulip, daisy, lily, sunflower, orchid, daffodil, carnation, peony, lavender, iris, marigold, "
           "chrysanthemum, hydrangea, poppy")
FRUITS = "apple, banana, orange, strawberry, grape, pear, pineapple, mango, peach, cherry, watermelon, lemon"


def pieces(vocab, answer: str) -> dict[str, list[str]]:
    ids = keyword_token_ids(parse_keywords(answer), vocab.tokenize, vocab.token_text)
    return {word: [vocab.token_text(t) for t in tokens] for word, tokens in ids.items()}


def test_on_llamas_vocabulary_a_keyword_is_read_through_the_first_piece_of_the_word_as_written(llama_vocab):
    read = pieces(llama_vocab, CAR_MAKES)
    assert read["BMW"] == [" B"] and read["Tesla"] == [" T"] and read["Toyota"] == [" Toy"]
    assert read["Ford"] == [" Ford", " ford"]  # a whole-word form in another case is read too
    assert read["Audi"][0] == " A" and " audi" in read["Audi"]


def test_other_forms_never_add_a_piece_more_generic_than_the_word_as_written(llama_vocab):
    read = pieces(llama_vocab, "BMW, tulip, roses, lily")
    assert " b" not in read["BMW"]  # lower-case bmw starts with ' b': more words start with it than with ' B'
    assert read["roses"] == [" ros", " rose"]  # the singular, as the model answers it, is a whole piece
    assert read["tulip"] == [" t", " Tul"]  # capitalised: a longer piece of the same word
    for word, found in read.items():
        assert all(len(p.strip()) >= len(found[0].strip()) or p.strip().lower() == word.lower() for p in found)


def test_digits_are_read_through_their_first_digit_not_the_space_before_them(llama_vocab):
    read = pieces(llama_vocab, "Ace, 2, 3, 10, Jack, Queen, King")
    assert read["2"] == ["2"] and read["3"] == ["3"] and read["10"] == ["1"]
    assert read["King"][:2] == [" King", " king"]


def test_a_phrase_is_named_in_full_and_read_through_its_first_word(llama_vocab):
    answer = "1. Wearing sunglasses 2. Wearing regular glasses 3. No glasses"
    ids = keyword_token_ids(parse_keywords(answer), llama_vocab.tokenize, llama_vocab.token_text)
    assert list(ids) == ["Wearing sunglasses", "Wearing regular glasses", "No glasses"]
    assert ids["Wearing sunglasses"] == ids["Wearing regular glasses"]
    review = review_keywords(ids, llama_vocab.token_text)
    assert list(review.localization) == ["Wearing sunglasses or Wearing regular glasses", "No glasses"]


@pytest.mark.parametrize("answer, shared, generic", [
    (CAR_MAKES, [], ["Honda", "BMW", "Nissan", "Hyundai", "Kia", "Tesla", "Jeep"]),
    (FLOWERS, [["daisy", "daffodil"]], ["daisy", "lily", "daffodil", "peony", "iris", "chrysanthemum", "poppy"]),
    (FRUITS, [["pear", "pineapple"]], ["strawberry", "pineapple", "mango", "peach"]),
])
def test_keywords_the_lens_cannot_tell_apart_are_found_on_the_papers_criteria(llama_vocab, answer, shared, generic):
    ids = keyword_token_ids(parse_keywords(answer), llama_vocab.tokenize, llama_vocab.token_text)
    review = review_keywords(ids, llama_vocab.token_text)
    assert [words for words, _ in review.shared] == shared
    assert list(review.generic) == generic
    # shared keywords are one reading; generic-only readings name clusters but do not vote on the place
    assert set(review.naming) == {" or ".join(g) for g in shared} | (
        set(ids) - {w for g in shared for w in g})
    assert not any(all(w in generic for w in name.split(" or ")) for name in review.localization)
    assert len(review.localization) >= MIN_KEYWORDS
    notes = review.notes()
    assert len(notes) == len(shared) + len(generic)
    for words in shared:
        assert any(f"read as one ({' or '.join(words)!r})" in n and "longer word" in n for n in notes)
    assert all("starts many words" in n for n in notes[len(shared):])


def test_when_only_generic_readings_would_remain_they_count_after_all_and_the_user_is_told(llama_vocab):
    ids = keyword_token_ids(["BMW", "Tesla", "Kia"], llama_vocab.tokenize, llama_vocab.token_text)
    review = review_keywords(ids, llama_vocab.token_text)
    assert review.generic_kept and list(review.localization) == ["BMW", "Tesla", "Kia"]
    assert all("still counts" in n for n in review.notes())


def test_a_keyword_with_a_whole_word_piece_is_not_generic(llama_vocab):
    ids = keyword_token_ids(["red", "blue", "Ace"], llama_vocab.tokenize, llama_vocab.token_text)
    review = review_keywords(ids, llama_vocab.token_text)
    assert review.generic == {} and review.shared == [] and review.notes() == []


@pytest.mark.parametrize("style", ANSWERS)
def test_every_answer_style_gives_keywords_llamas_vocabulary_reads_through_the_first_word(llama_vocab, style):
    answer, keywords = ANSWERS[style]
    ids = keyword_token_ids(parse_keywords(answer), llama_vocab.tokenize, llama_vocab.token_text)
    assert list(ids) == keywords
    for word, tokens in ids.items():
        first = llama_vocab.token_text(tokens[0]).strip()
        assert first and word.split()[0].startswith(first), (word, first)
