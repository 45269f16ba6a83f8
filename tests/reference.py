"""transformers as the reference implementation the llama.cpp path is checked against."""

from __future__ import annotations

import numpy as np


def pixel_values(image: np.ndarray, mean, std):
    """CLIP normalization of an image already at the vision tower's size (no resize)."""
    import torch

    x = image.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1)[None].copy())


def block_outputs(model, input_ids: list[int], pixels=None) -> list[np.ndarray]:
    """Raw output of every decoder block (before any final norm), as (n_tokens, n_embd) arrays."""
    import torch

    layers = model.model.language_model.layers
    captured: list[np.ndarray] = [None] * len(layers)

    def hook(index):
        def save(_module, _inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            captured[index] = out[0].detach().float().numpy()
        return save

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            kwargs = {"pixel_values": pixels.to(model.dtype)} if pixels is not None else {}
            model(input_ids=torch.tensor([input_ids]), **kwargs)
    finally:
        for h in handles:
            h.remove()
    return captured


def output_logits(model, input_ids: list[int], pixels=None) -> np.ndarray:
    """The model's own next-token logits at every token (lm_head after the final norm), (n_tokens, n_vocab)."""
    import torch

    with torch.no_grad():
        kwargs = {"pixel_values": pixels.to(model.dtype)} if pixels is not None else {}
        return model(input_ids=torch.tensor([input_ids]), **kwargs).logits[0].float().numpy()


def lm_head(model) -> np.ndarray:
    return model.lm_head.weight.detach().float().numpy()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
