"""Inspect: what the model "thinks" at every layer and prompt token of one photo (ESMC's Figure 3 as data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import ComputeRequest
from esmc_desktop.errors import SettingsError
from esmc_desktop.mllm.logit_lens import DEFAULT_TOP_K, LensParams
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE
from esmc_desktop.mllm.runtime import ImageRun
from esmc_desktop.photos.decode import load_rgb


@dataclass(frozen=True)
class LensTable:
    """One prompt: its text tokens, the layers read, and per layer and token the top (token, probability)."""

    prompt: str
    n_image_tokens: int
    tokens: list[str]
    layers: tuple[int, ...]
    top: list[list[list[tuple[str, float]]]]  # [layer][token][rank]


@dataclass(frozen=True)
class Inspection:
    tables: list[LensTable]
    run: ImageRun  # the hidden states themselves, for save_states


def inspect_photo(image: Path | str, prompts: list[str], model: ModelFiles, *, top: int = 1,
                  template: str = DEFAULT_TEMPLATE, compute: ComputeRequest = ComputeRequest(),
                  feedback: Feedback | None = None) -> Inspection:
    """The logit lens of every layer at every prompt token, `top` tokens each."""
    feedback = feedback or Feedback()
    if top < 1:
        raise SettingsError("--top must be at least 1")
    picture = load_rgb(image)
    with ModelSession.open(model, compute, note=feedback.say) as session, session.runtime(template=template) as rt:
        lens = session.lens(LensParams(top_k=max(top, DEFAULT_TOP_K)))
        run = rt.run(picture, prompts)
        tables = []
        for states in run.prompts:
            n_layers, n_tokens, _ = states.hidden.shape
            sparse = lens.project(states.hidden, states.layers)
            idx = sparse.indices.reshape(n_layers, n_tokens, -1)[:, :, :top]
            val = sparse.values.reshape(n_layers, n_tokens, -1)[:, :, :top]
            table = [[[(rt.token_text(int(i)), float(v)) for i, v in zip(idx[li, t], val[li, t])]
                      for t in range(n_tokens)] for li in range(n_layers)]
            tables.append(LensTable(states.prompt, run.n_image_tokens, list(states.tokens), states.layers, table))
    return Inspection(tables, run)


def save_states(inspection: Inspection, path: Path | str) -> None:
    """The first prompt's hidden states as .npz: layer_<i>, tokens, token_ids, prefix_ids, n_image_tokens."""
    run = inspection.run
    states = run.prompts[0]
    arrays = {f"layer_{layer}": states.layer(layer) for layer in states.layers}
    np.savez(path, tokens=np.array(states.tokens, dtype=str), token_ids=np.array(states.token_ids, np.int32),
             prefix_ids=np.array(run.prefix_ids, np.int32), n_image_tokens=np.int32(run.n_image_tokens), **arrays)
