"""Criterion keywords (Algorithm 1's GPT-4 step), asked of the same LM offline, or typed by the user.

The parser reads answers as LLaVA-1.5 (Vicuna) writes them: bare comma lists,
numbered or bulleted lists (with or without a "Sure! Here are ...:" preamble
and a description after each item), and sentences such as "Common brands of
cars include Toyota, Honda, and BMW" or "The most common colors of flowers are
red, pink and white". The model's casing is kept (BMW stays BMW), because the
lens looks for the word as the model writes it.

The lens looks at each keyword's first sub-token as the model would write the
word mid-sentence (with its leading space), plus the first sub-tokens of its
lower-case and capitalised forms: the same answer may start " black",
" Black" or " BMW".
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

STOPWORDS = frozenset(
    "a an the of and or in on at to is are was were be it its this that these those with for from by as "
    "some many most more other others etc such like common usually often typically".split())
MAX_KEYWORDS = 20
MIN_KEYWORDS = 2
MAX_NAME_WORDS = 3

FALLBACK = ("the criterion is read at a default place (about 85% of the depth, the criterion's last token) "
            "and clusters are named by their most probable lens words")
"""What the pipeline does when a criterion has fewer than MIN_KEYWORDS keywords (said in its message)."""

_LIST_MARKER = re.compile(r"^\s*(?:\(?\d+[.):]|[-*•·–])\s+")
_LIST_LEAD = re.compile(
    r"^.*?\b(?:include|includes|including|are|is|such as|like|e\.g\.|namely)\s+", re.IGNORECASE)
_ITEM_SPLIT = re.compile(r",|;|/|\band\b|\bor\b|&", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_FILLERS = frozenset("a an the etc usually commonly typically often mostly generally also other others among many "
                     "various several different more".split())


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def keyword_question(criterion: str) -> str:
    """'color of the car' -> 'What are common colors of cars? Answer with single words separated by commas.'"""
    text = criterion.strip().rstrip("?.!").strip()
    match = re.fullmatch(r"(?:the\s+)?(\w+)\s+of\s+(?:the\s+|a\s+|an\s+)?(\w+)", text, flags=re.IGNORECASE)
    if match:
        head = f"common {_plural(match.group(1).lower())} of {_plural(match.group(2).lower())}"
    else:
        head = f"common answers to '{text}'"
    return f"What are {head}? Answer with single words separated by commas."


def _list_items(text: str) -> list[str]:
    """The raw items of an answer: its list lines, or the comma list inside its sentences."""
    text = text.replace("**", "").replace("__", "")
    lines = [line for line in text.splitlines() if line.strip()]
    marked = [_LIST_MARKER.sub("", line, count=1) for line in lines if _LIST_MARKER.match(line)]
    if len(marked) >= 2:
        # "1. Toyota: a Japanese brand..." / "- Honda - reliable": the item is what comes before its description
        return [re.split(r"\s[-–—]\s|[:(]", item, maxsplit=1)[0] for item in marked]
    short = [line for line in lines if "," not in line and len(_WORD.findall(line)) <= MAX_NAME_WORDS]
    if len(short) >= 2 and len(short) >= len(lines) - 2:
        return short  # one bare item per line, perhaps between a preamble and a closing line
    items: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        sentence = sentence.split(":")[-1]  # "Sure! Here are some common colors of cars: red, blue"
        parts = _ITEM_SPLIT.split(sentence)
        if len(parts) >= 2:
            # "Common brands of cars include Toyota", "such as red": an item starts after the sentence's verb
            items += [_LIST_LEAD.sub("", part, count=1) for part in parts]
    return items or [text]


def _clean(item: str) -> str | None:
    """One keyword from a raw item, or None: a word (hyphens kept), or a short proper name ('Land Rover')."""
    item = re.sub(r"\(.*?\)", " ", item)  # "red (the most popular)"
    words = [w for w in _WORD.findall(item) if w.lower() not in _FILLERS]
    if len(words) == 1:
        word = words[0]
        return word if len(word) >= 2 and word.lower() not in STOPWORDS else None
    # Several words are one answer only as a proper name ("Alfa Romeo"); "light blue" is a shade of a listed colour
    if 1 < len(words) <= MAX_NAME_WORDS and all(w[0].isupper() for w in words):
        return " ".join(words)
    return None


def parse_keywords(text: str, max_keywords: int = MAX_KEYWORDS) -> list[str]:
    """Keywords from a model's answer or a user's list, in order, deduplicated ignoring case, casing kept."""
    out: list[str] = []
    seen: set[str] = set()
    for item in _list_items(text):
        word = _clean(item)
        if word and word.lower() not in seen:
            seen.add(word.lower())
            out.append(word)
    return out[:max_keywords]


def generate_keywords(criterion: str, generate: Callable[[str], str]) -> list[str]:
    """Ask the language model (text only) for common values of the criterion."""
    return parse_keywords(generate(keyword_question(criterion)))


def too_few_keywords(criterion: str, keywords: list[str]) -> str | None:
    """A sentence saying what to do when a criterion has fewer than MIN_KEYWORDS keywords, else None."""
    if len(keywords) >= MIN_KEYWORDS:
        return None
    got = f"only {keywords[0]!r}" if keywords else "none"
    return (f"{criterion!r}: the model named fewer than {MIN_KEYWORDS} usable keywords ({got}); type some with "
            f"--keywords \"{criterion}=a,b,c\" (or in the window); meanwhile {FALLBACK}")


def _word_forms(word: str) -> list[str]:
    return list(dict.fromkeys([word, word.lower(), word.capitalize()]))


def keyword_token_ids(keywords: Iterable[str], tokenize: Callable[[str], list[int]],
                      token_text: Callable[[int], str] | None = None) -> dict[str, list[int]]:
    """Per keyword, the first sub-token of each of its forms as the model writes it mid-sentence (deduplicated).

    Mid-sentence means after a space: the word is tokenized after "is " and
    the tokens of "is" are taken off, which is right for tokenizers that add a
    leading-space marker (SentencePiece) and for those that do not (BPE). With
    `token_text`, a bare space piece (SentencePiece's "▁" before a letter it
    has no "▁X" piece for) is passed over: it starts every such word alike.
    """
    context = tokenize("is")
    out: dict[str, list[int]] = {}
    for word in keywords:
        ids: list[int] = []
        for form in _word_forms(word):
            tokens = tokenize(f"is {form}")
            tokens = tokens[len(context):] if tokens[:len(context)] == context else tokenize(form)
            if token_text is not None:
                tokens = [t for k, t in enumerate(tokens) if k > 0 or token_text(t).strip()] or tokens
            if tokens and tokens[0] not in ids:
                ids.append(tokens[0])
        if ids:
            out[word] = ids
    return out
