"""Text generation on a loaded LlavaRuntime: the keyword question (text only) and the bench's sampled answers.

The runtime owns the model, the context and the projector and frees them; generation only decodes
through them: the prompt once (after the image, if any) into sequence 0, then one token at a time,
each further answer in sequence 1, a KV copy of the decoded prompt.
"""

from __future__ import annotations

import numpy as np

from esmc_desktop.errors import PromptTooLongError
from esmc_desktop.mllm.runtime import LlavaRuntime


def generate(rt: LlavaRuntime, prompt: str, image=None, *, max_tokens: int = 48, temperature: float = 0.0,
             seed: int = 0) -> str:
    """Greedy answer to a prompt in the chat template, with or without an image (or sampled, see answers)."""
    return answers(rt, prompt, image, n=1, max_tokens=max_tokens, temperature=temperature, seed=seed)[0]


def answers(rt: LlavaRuntime, prompt: str, image=None, *, n: int, max_tokens: int = 48, temperature: float = 1.0,
            seed: int = 0) -> list[str]:
    """`n` answers to one prompt; the image and the prompt are decoded once and every answer continues them.

    Greedy at temperature 0; above it each token is drawn from softmax(logits / temperature) by a
    generator seeded with `seed`, so a seed always gives the same answers (the text-guided
    clustering baseline samples several answers per photo).
    """
    if temperature < 0 or n < 1:
        raise ValueError(f"need temperature >= 0 and n >= 1, got {temperature} and {n}")
    n_past = _decode_prompt(rt, prompt, image, max_tokens)
    first = rt.logits().copy()
    rng = np.random.default_rng(seed)
    seq = 0 if n == 1 else 1  # several answers: each in sequence 1, a copy of the decoded prompt
    texts = []
    for _ in range(n):
        if seq:
            rt.copy_sequence(0, seq)
        logits, out = first, []
        for k in range(max_tokens):
            token = _next_token(logits, temperature, rng)
            if rt.is_end(token):
                break
            out.append(token)
            rt.decode([token], n_past + k, seq)
            logits = rt.logits()
        if seq:
            rt.drop_sequence(seq)
        texts.append("".join(rt.token_text(t) for t in out).strip())
    return texts


def _decode_prompt(rt: LlavaRuntime, prompt: str, image, max_tokens: int) -> int:
    """The prompt in the chat template decoded into sequence 0 with room for the answer: the next position."""
    if image is None:
        ids = rt.tokenize(rt.template.text(prompt), add_bos=True)
        if len(ids) + max_tokens > rt.n_ctx or len(ids) > rt.n_batch:
            raise PromptTooLongError(f"the prompt needs {len(ids)} tokens; the context holds {rt.n_ctx}")
        rt.clear()
        rt.decode(ids, 0)
        return len(ids)
    n_past = rt.encode_image(image)
    ids = rt.tokenize(rt.template.suffix(prompt))
    if n_past + len(ids) + max_tokens > rt.n_ctx:
        raise PromptTooLongError(f"the prompt needs {n_past + len(ids)} tokens; the context holds {rt.n_ctx}")
    rt.decode(ids, n_past)
    return n_past + len(ids)


def _next_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """The most probable token at temperature 0, else one drawn from softmax(logits / temperature)."""
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))
