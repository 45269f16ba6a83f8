"""The chat formats the runtime builds prompts in: LLaVA-1.5's llava_v1 (ESMC's) and llava-hf's.

ESMC's released code reads LLaVA through LLaVA's `llava_v1` conversation
template: the system prompt, then ` USER: <image>\\n{prompt} ASSISTANT:`.
Hidden states near the 0.2 localization threshold depend on it, so it is the
default. `llava-hf` is the shorter form of the Hugging Face model cards (no
system prompt). BOS comes first in both (llama.cpp adds it).

The image prefix (everything up to and including the image) is shared by every
criterion of a photo; only the text after the image differs, so a template is
split there. A text-only turn (keyword generation) is the same template
without the image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LLAVA_SYSTEM_PROMPT = ("A chat between a curious human and an artificial intelligence assistant. "
                       "The assistant gives helpful, detailed, and polite answers to the human's questions.")


@dataclass(frozen=True)
class ChatTemplate:
    """Where the image and the criterion prompt go in the model's chat format."""

    name: str
    system: str = ""

    @property
    def before_image(self) -> str:
        """The text decoded (after BOS) before the image: shared by all criteria of a photo."""
        return f"{self.system} USER: " if self.system else "USER: "

    def full(self, prompt: str) -> str:
        """The whole turn with the image marker, as a Hugging Face processor would be given it."""
        return f"{self.before_image}<image>{self.suffix(prompt)}"

    def suffix(self, prompt: str) -> str:
        """The text decoded after the shared image prefix."""
        return f"\n{prompt} ASSISTANT:"

    def text(self, prompt: str) -> str:
        """A whole text-only turn (keyword generation, no image)."""
        return f"{self.before_image}{prompt} ASSISTANT:"

    @property
    def key(self) -> str:
        """Name plus a digest of the exact strings, for cache keys: a wording change is a new key."""
        digest = hashlib.sha256(self.full("{prompt}").encode()).hexdigest()[:12]
        return f"{self.name}:{digest}"


def prompt_positions(pieces: list[str], prompt: str) -> list[int]:
    """Indices of the suffix tokens (given as their text pieces) that spell the criterion prompt itself.

    Found by character offsets, so it holds for any tokenizer (a piece that
    straddles the prompt's edge counts as the prompt's). Empty if the pieces
    do not spell the prompt.
    """
    text = "".join(pieces)
    start = text.rfind(prompt)
    if start < 0 or not prompt:
        return []
    end = start + len(prompt)
    out, offset = [], 0
    for i, piece in enumerate(pieces):
        if offset < end and offset + len(piece) > start and piece.strip():
            out.append(i)
        offset += len(piece)
    return out


LLAVA_V1 = ChatTemplate("llava-v1", LLAVA_SYSTEM_PROMPT)
LLAVA_HF = ChatTemplate("llava-hf")
TEMPLATES = {t.name: t for t in (LLAVA_V1, LLAVA_HF)}
DEFAULT_TEMPLATE = LLAVA_V1.name


def get_template(name: str) -> ChatTemplate:
    """The template called `name`; a ValueError naming the choices otherwise."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown chat template {name!r}; choose one of {', '.join(TEMPLATES)}") from None
