"""Criterion keywords (Algorithm 1's GPT-4 step), asked of the same LM offline, or typed by the user.

The lens looks at each keyword's first sub-token: the token the model would
emit to start that word mid-sentence.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

STOPWORDS = frozenset(
    "a an the of and or in on at to is are was were be it its this that these those with for from by as "
    "some many most more other others etc such like common usually often typically".split())
MAX_KEYWORDS = 20


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


def parse_keywords(text: str, max_keywords: int = MAX_KEYWORDS) -> list[str]:
    """Single lower-case words from a model's or user's list, deduplicated, in order."""
    out: list[str] = []
    for item in re.split(r"[,\n;/]|\band\b|\bor\b|\d+[.)]", text):
        words = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", item.lower())
        words = [w for w in words if w not in STOPWORDS]
        if len(words) != 1 or len(words[0]) < 2:
            continue
        if words[0] not in out:
            out.append(words[0])
    return out[:max_keywords]


def generate_keywords(criterion: str, generate: Callable[[str], str]) -> list[str]:
    """Ask the language model (text only) for common values of the criterion."""
    return parse_keywords(generate(keyword_question(criterion)))


def keyword_token_ids(keywords: Iterable[str], tokenize: Callable[[str], list[int]]) -> dict[str, list[int]]:
    """Per keyword, the first sub-token of the word and of its capitalised form (deduplicated)."""
    out: dict[str, list[int]] = {}
    for word in keywords:
        ids: list[int] = []
        for form in (word, word.capitalize()):
            tokens = tokenize(form)
            if tokens and tokens[0] not in ids:
                ids.append(tokens[0])
        if ids:
            out[word] = ids
    return out
