"""New photos into a saved result with its ONNX heads: no re-clustering."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np

from esmc_desktop.engine.photo_loop import PhotoLoop
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import lens_key
from esmc_desktop.engine.types import Assignment, Progress
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.mllm.prompts import get_template
from esmc_desktop.photos.cache import VectorKey
from esmc_desktop.photos.scan import Photo, ScanRules, scan


def saved_vector_key(saved, criterion) -> VectorKey:
    """The cache key of a saved criterion's lens vectors, as the clustering that made the result keyed them."""
    lens = LensParams(top_k=saved.lens_top_k, final_norm=saved.lens_final_norm)
    return VectorKey(saved.model_fingerprint, get_template(saved.template).key, criterion.prompt, criterion.layer,
                     criterion.position, lens_key(lens))


def assign_new_photos(photos_dir: Path | str, saved, session: ModelSession, *,
                      progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                      rules: ScanRules = ScanRules()) -> Assignment:
    """Sort new photos into a saved result with its ONNX heads: no re-clustering.

    Each photo's lens vectors go into the session's feature cache, keyed as a clustering keys them,
    so `learn` can retrain on the assigned photos too.
    """
    from esmc_desktop.saved_result import load_heads

    heads = load_heads(saved, session.fingerprint)
    found = scan(photos_dir, rules=rules)
    skipped = list(found.skipped)
    lens = session.lens(LensParams(top_k=saved.lens_top_k, final_norm=saved.lens_final_norm))
    keys = [saved_vector_key(saved, c) for c in saved.criteria]
    prompts = [c.prompt for c in saved.criteria]
    per: dict[str, list[tuple[int, str, float]]] = {c.text: [] for c in saved.criteria}
    kept: list[Photo] = []
    with session.runtime(max_prompts=len(saved.criteria), layers=sorted({c.layer for c in saved.criteria}),
                         template=saved.template) as rt:
        cache = session.cache()  # opened once the model has loaded: a stop while loading writes nothing
        loop = PhotoLoop(rt, "assigning", progress=progress, cancel=cancel,
                         cancelled="cancelled; no photo was exported", skipped=skipped)
        for read in loop.read(found.photos, lambda n: prompts):
            kept.append(read.photo)
            vectors = {}
            for c, key, head, states in zip(saved.criteria, keys, heads, read.run.prompts):
                vec = lens.project(states.layer(c.layer)[c.position][None], c.layer)
                vectors[key] = (vec.indices[0], vec.values[0])
                proba = head.predict_proba_sparse(vec.indices.astype(np.int64), vec.values)[0]
                cluster = int(proba.argmax())
                per[c.text].append((cluster, c.names[cluster], float(proba[cluster]) if head.has_confidence
                                    else float("nan")))
            cache.put_photo(read.photo.sha256, vectors)
        encoded = rt.stats.images_encoded
    return Assignment(kept, skipped, per, encoded)
