"""Criterion keywords (Algorithm 1's GPT-4 step), asked of the same LM offline, or typed by the user.

The parser reads answers as LLaVA-1.5 (Vicuna) writes them: bare comma lists,
numbered or bulleted lists (one per line or inline, with or without a "Sure!
Here are ...:" preamble and a description after each item), and sentences such
as "Common brands of cars include Toyota, Honda, and BMW". Digits are answers
too ("Ace, 2, 3, ..., 10, Jack"), and so are short phrases ("Wearing
sunglasses"): a phrase is named in full and read through its first word. The
model's casing is kept (BMW stays BMW), because the lens looks for the word as
the model writes it.

How the lens reads a keyword, on LLaMA's real vocabulary (the one Vicuna-7B and
so LLaVA-1.5-7b use): through the first piece of the word as the model writes
it mid-sentence, with its leading space. Many answer words are several pieces
there, and the first is often generic: BMW is read through " B", tulip through
" t", daisy and daffodil both through " da". `keyword_token_ids` adds other
forms of a word (lower-case, capitalised, singular or plural: the model may
answer " rose" where the list said "roses") only where the form's first piece
is the whole form or says more of the word than the written form's first piece,
so a form never adds a piece more generic than the word as written (" b" for
BMW would add every word starting with b). `review_keywords` then says which
keywords the lens cannot tell apart (they share a piece: read as one) and which
it reads only through a generic piece (kept for naming, left out of where the
criterion is read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

STOPWORDS = frozenset(
    "a an the of and or in on at to is are was were be it its this that these those with for from by as "
    "some many most more other others etc such like common usually often typically".split())
MAX_KEYWORDS = 20
MIN_KEYWORDS = 2
MAX_NAME_WORDS = 3
GENERIC_LETTERS = 2
"""A lens piece of at most this many letters that is not the whole word is too generic to mean the word.

Measured on LLaMA's vocabulary (tests/data/): of its 32,000 pieces, 292 begin with " B", 517 with " t",
163 with " st", 90 with " pe", 56 with " da"; the three-letter first pieces of the same answer lists begin
few: " Toy" 1, " ros" 2, " sun" 2, " ban" 7 (some, " car" 23 and " gra" 33, still begin more). A one- or
two-letter piece gets lens mass from every word it starts, so its probability says little about the
keyword; from three letters on it mostly says the word."""

FALLBACK = ("the criterion is read at a default place (about 85% of the depth, the criterion's last token) "
            "and clusters are named by their most probable lens words")
"""What the clustering job does when a criterion has fewer than MIN_KEYWORDS keywords (said in its message)."""

_LIST_MARKER = re.compile(r"^\s*(?:\(?\d+[.):]|[-*•·–])\s+")
_INLINE_MARKER = re.compile(r"\s+(?=\(?\d+[.)]\s+\S)")
_LIST_LEAD = re.compile(
    r"^.*?\b(?:include|includes|including|are|is|such as|like|e\.g\.|namely)\s+", re.IGNORECASE)
_ITEM_SPLIT = re.compile(r",|;|/|\band\b|\bor\b|&", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_FILLERS = frozenset("a an the etc usually commonly typically often mostly generally also other others among many "
                     "various several different more".split())


def _inflect():
    import inflect  # imported when asked: it takes a while to load, and only keywords need it

    return inflect.engine()


def _plural(noun: str) -> str:
    """The plural of a noun as English writes it (species, people, leaves), a plural kept as it is."""
    engine = _inflect()
    return noun if engine.singular_noun(noun) else engine.plural_noun(noun)


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
    # "1. Wearing sunglasses 2. Wearing regular glasses 3. No glasses": an inline numbered list, one per line
    text = "\n".join(_INLINE_MARKER.sub("\n", line) if _LIST_MARKER.match(line) else line
                     for line in text.splitlines())
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
    return items or ([text] if len(_WORD.findall(text)) == 1 else [])  # a lone word; a sentence is no answer


def _clean(item: str) -> str | None:
    """One keyword from a raw item, or None: a word or number, or a short phrase ('Land Rover', 'No glasses')."""
    item = re.sub(r"\(.*?\)", " ", item)  # "red (the most popular)"
    words = [w for w in _WORD.findall(item) if w.lower() not in _FILLERS]
    if len(words) == 1:
        word = words[0]
        if word.isdigit():
            return word
        return word if len(word) >= 2 and word.lower() not in STOPWORDS else None
    # A phrase is an answer when it is short and is not a sentence ("Cars come in many colors" has stopwords)
    if 1 < len(words) <= MAX_NAME_WORDS and not any(w.lower() in STOPWORDS for w in words):
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
    """The ways the model may write a keyword: as written, lower-case, capitalised, singular or plural.

    A phrase is read through its first word ("Wearing sunglasses" through "Wearing").
    """
    first = word.split()[0]
    forms = [first, first.lower(), first.capitalize()]
    if first.isalpha() and (first.islower() or first.istitle()):
        engine = _inflect()
        singular = engine.singular_noun(first)
        forms.append(singular if singular else engine.plural_noun(first))
    return list(dict.fromkeys(f for f in forms if f))


def _letters(piece: str) -> int:
    return len(piece.strip())


def keyword_token_ids(keywords: Iterable[str], tokenize: Callable[[str], list[int]],
                      token_text: Callable[[int], str] | None = None) -> dict[str, list[int]]:
    """Per keyword, the first piece of each of its forms as the model writes it mid-sentence (deduplicated).

    Mid-sentence means after a space: the word is tokenized after "is " and the tokens of "is" are taken
    off, which is right for tokenizers that add a leading-space marker (SentencePiece) and for those that
    do not (BPE). With `token_text`: a bare space piece (SentencePiece's "▁" before a digit or a letter it
    has no "▁X" piece for) is passed over, since it starts every such word alike; and a form other than
    the word as written counts only where its first piece is the whole form or longer than the written
    word's first piece (never a more generic piece: " b" for BMW, " T" for tulip).
    """
    context = tokenize("is")

    def first_piece(form: str) -> tuple[int, str] | None:
        tokens = tokenize(f"is {form}")
        tokens = tokens[len(context):] if tokens[:len(context)] == context else tokenize(form)
        if token_text is not None:
            tokens = [t for k, t in enumerate(tokens) if k > 0 or token_text(t).strip()] or tokens
        if not tokens:
            return None
        return tokens[0], token_text(tokens[0]) if token_text is not None else form

    out: dict[str, list[int]] = {}
    for word in keywords:
        forms = _word_forms(word)
        written = first_piece(forms[0])
        if written is None:
            continue
        ids = [written[0]]
        for form in forms[1:]:
            found = first_piece(form)
            if found is None or found[0] in ids:
                continue
            token, piece = found
            if token_text is None or piece.strip() == form or _letters(piece) > _letters(written[1]):
                ids.append(token)
        out[word] = ids
    return out


@dataclass(frozen=True)
class KeywordReview:
    """Which keywords the lens can tell apart, and what is done with the rest.

    `localization`: the readings where the criterion is read from (keywords that share a piece merged into
    one, keywords read only through generic pieces left out); `naming`: the readings clusters are named
    from (merged the same way, generic ones kept: a cluster whose photos read " B" is still BMW's).
    """

    localization: dict[str, list[int]]
    naming: dict[str, list[int]]
    shared: list[tuple[list[str], list[str]]] = field(default_factory=list)  # (keywords, pieces they share)
    generic: dict[str, list[str]] = field(default_factory=dict)  # keyword -> its pieces
    generic_kept: bool = False  # too few readings were left without them, so they count after all

    def notes(self) -> list[str]:
        """Sentences for the user: which keywords are ambiguous, what was done, and what would help."""
        out = []
        for words, pieces in self.shared:
            listed = " and ".join(repr(w) for w in words)
            out.append(f"{listed} start with the same piece ({', '.join(repr(p) for p in pieces)}) for the model: "
                       f"they are read as one ({' or '.join(words)!r}); name each with a longer word to tell "
                       f"them apart")
        for word, pieces in self.generic.items():
            what = ("it still counts where the criterion is read, since too few keywords would be left"
                    if self.generic_kept else "it names clusters but does not choose where the criterion is read")
            out.append(f"{word!r} is read only through {', '.join(repr(p) for p in pieces)}, a piece that starts "
                       f"many words: {what}")
        return out


def review_keywords(keyword_ids: dict[str, list[int]], token_text: Callable[[int], str]) -> KeywordReview:
    """Keywords the lens cannot tell apart merged, generic ones marked (see GENERIC_LETTERS).

    Two keywords whose readings share a piece get the same lens mass from it, so no threshold on that
    mass can say which of them the photo shows: they become one reading, named "a or b". A keyword none
    of whose pieces has more than GENERIC_LETTERS letters (and none is the whole word) is read through
    mass that every word starting alike adds to; at mid-depth, where a real LLM's lens reads scattered
    pieces, such a piece passes the threshold for reasons unrelated to the photo, so it does not vote
    on where the criterion is read, unless fewer than MIN_KEYWORDS readings would remain.
    """
    words = list(keyword_ids)
    generic = {}
    for word in words:
        pieces = [token_text(t) for t in keyword_ids[word]]
        first = word.split()[0].lower()
        if all(_letters(p) <= GENERIC_LETTERS and p.strip().lower() != first for p in pieces):
            generic[word] = pieces
    groups: list[list[str]] = []
    for word in words:  # connected components of "shares a piece with"
        touching = [g for g in groups if any(set(keyword_ids[word]) & set(keyword_ids[w]) for w in g)]
        groups = [g for g in groups if g not in touching] + [[w for g in touching for w in g] + [word]]
    groups.sort(key=lambda g: words.index(g[0]))
    shared, naming, localization = [], {}, {}
    for group in groups:
        name = " or ".join(group)
        naming[name] = list(dict.fromkeys(t for w in group for t in keyword_ids[w]))
        if not all(w in generic for w in group):
            localization[name] = naming[name]
        if len(group) > 1:
            common = sorted({t for w in group for t in keyword_ids[w] if sum(t in keyword_ids[v] for v in group) > 1})
            shared.append((group, [token_text(t) for t in common]))
    kept = len(localization) < MIN_KEYWORDS <= len(naming)
    return KeywordReview(naming if kept else localization, naming, shared, generic, kept)
