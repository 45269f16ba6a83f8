"""New photos into a saved result with its ONNX heads: no re-clustering."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from esmc_desktop.engine.lens_batch import LensBatch
from esmc_desktop.engine.photo_loop import PhotoLoop
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import lens_key
from esmc_desktop.engine.types import Assignment, Progress, report_progress
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.mllm.prompts import get_template
from esmc_desktop.photos.cache import VectorKey
from esmc_desktop.photos.export import ExportRow, sources
from esmc_desktop.photos.export_folder import SavedCriterion, SavedResult
from esmc_desktop.photos.scan import Photo, ScanRules, Skipped, scan


def saved_lens(saved: SavedResult) -> LensParams:
    """The logit lens the saved result's vectors were read through."""
    return LensParams(top_k=saved.lens_top_k, final_norm=saved.lens_final_norm)


def saved_vector_key(saved: SavedResult, criterion: SavedCriterion) -> VectorKey:
    """The cache key of a saved criterion's lens vectors, as the clustering that made the result keyed them."""
    return VectorKey(saved.model_fingerprint, get_template(saved.template).key, criterion.prompt, criterion.layer,
                     criterion.position, lens_key(saved_lens(saved)))


_ASSIGN_SLICE = 256  # new photos run through a saved head at once


def assign_new_photos(photos_dir: Path | str, saved: SavedResult, session: ModelSession, *,
                      progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                      rules: ScanRules = ScanRules()) -> Assignment:
    """Sort new photos into a saved result with its ONNX heads: no re-clustering.

    Each photo's lens vectors go into the session's feature cache, keyed as a clustering keys them,
    so `learn` can retrain on the assigned photos too. A photo whose vectors are already there (read by
    an earlier run with the same model and places) is not read again; when all are, no model is loaded.
    """
    from esmc_desktop.saved_result import load_heads

    heads = load_heads(saved, session.fingerprint)
    found = scan(photos_dir, rules=rules)
    skipped = list(found.skipped)
    keys = [saved_vector_key(saved, c) for c in saved.criteria]
    cache = session.cache()
    vectors = {p.sha256: [cache.get(p.sha256, k) for k in keys] for p in found.photos}
    todo = [p for p in found.photos if any(v is None for v in vectors[p.sha256])]
    report_progress(progress, "assigning", len(found.photos) - len(todo), len(found.photos), time.perf_counter(), 0)
    encoded, failed = _read_new_photos(todo, len(found.photos), saved, keys, vectors, session, progress, cancel,
                                       skipped)
    kept = [p for p in found.photos if p.sha256 not in failed]
    photos = sources(kept)
    rows: list[ExportRow] = []
    for i, (c, head) in enumerate(zip(saved.criteria, heads)):
        if not kept:
            break
        indices = np.stack([vectors[p.sha256][i][0] for p in kept]).astype(np.int64)
        values = np.stack([vectors[p.sha256][i][1] for p in kept])
        # in slices: the head spreads each photo over the whole vocabulary (128 KB a photo at 32,000 tokens)
        slices = range(0, len(kept), _ASSIGN_SLICE)
        proba = np.concatenate([head.predict_proba_sparse(indices[at:at + _ASSIGN_SLICE],
                                                          values[at:at + _ASSIGN_SLICE]) for at in slices])
        for photo, row in zip(photos, proba):
            cluster = int(row.argmax())
            rows.append(ExportRow(photo, c.text, cluster, c.names[cluster],
                                  float(row[cluster]) if head.has_confidence else float("nan")))
    return Assignment(kept, skipped, rows, encoded)


def _read_new_photos(todo: list[Photo], total: int, saved: SavedResult, keys: list[VectorKey], vectors: dict,
                     session: ModelSession, progress, cancel, skipped: list[Skipped]) -> tuple[int, set[str]]:
    """One model run per photo of `todo`, its vectors into `vectors` and the cache: (images encoded, unreadable)."""
    failed: set[str] = set()
    if not todo:
        return 0, failed
    lens = session.lens(saved_lens(saved))
    prompts = [c.prompt for c in saved.criteria]
    with session.runtime(max_prompts=len(saved.criteria), layers=sorted({c.layer for c in saved.criteria}),
                         template=saved.template) as rt:
        loop = PhotoLoop(rt, "assigning", progress=progress, cancel=cancel,
                         cancelled="cancelled; no photo was exported", skipped=skipped)
        def store(photo, readings):
            for i, reading in readings.items():
                vectors[photo.sha256][i] = reading
            session.cache().put_photo(photo.sha256, {keys[i]: reading for i, reading in readings.items()})

        with LensBatch(lens, store) as batch:
            for read in loop.read(todo, lambda n: prompts, done_before=total - len(todo), total=total):
                rows = [(i, states.layer(c.layer)[c.position], c.layer)
                        for i, (c, states) in enumerate(zip(saved.criteria, read.run.prompts))]
                batch.add(read.photo, rows, read.seconds)
        failed.update(todo[n].sha256 for n in loop.failed)
        return rt.stats.images_encoded, failed
