"""The LLaVA-1.5 (Vicuna v1) chat format the runtime builds prompts in.

The image prefix (`USER: <image>`) is shared by every criterion of a photo;
only the text after the image differs, so the template is split there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatTemplate:
    """Where the image and the criterion prompt go in the model's chat format."""

    before_image: str = "USER: "
    after_image: str = "\n{prompt} ASSISTANT:"
    text_only: str = "USER: {prompt} ASSISTANT:"

    def suffix(self, prompt: str) -> str:
        """The text decoded after the shared image prefix."""
        return self.after_image.format(prompt=prompt)

    def text(self, prompt: str) -> str:
        """A whole text-only turn (keyword generation, no image)."""
        return self.text_only.format(prompt=prompt)


LLAVA_1_5 = ChatTemplate()
