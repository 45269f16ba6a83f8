"""`esmc-desktop bench`: every method of methods.METHODS on every criterion of a labelled dataset, same
photos, same model, the model opened once; scored against the labels (methods.py says what each method is
and how the variance is measured)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from esmc_desktop.bench.dataset import BenchCriterion, BenchDataset, load_dataset
from esmc_desktop.bench.methods import (KEYWORD_QUESTION, METHODS, METRICS, NO_KMEANS, USES_LABELS, BenchConfig,
                                        CriterionInfo, Report, Row, question)
from esmc_desktop.bench.readings import Reader
from esmc_desktop.engine.cluster import ClusterJob
from esmc_desktop.engine.session import ModelFiles, ModelSession
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings
from esmc_desktop.engine.types import ClusterResult, Criterion, Progress
from esmc_desktop.errors import ImageError
from esmc_desktop.method.baselines import KMEANS_RESTARTS, esmc_head, kmeans, text_vectors, zero_shot
from esmc_desktop.method.metrics import scores
from esmc_desktop.method.validation import MethodInputError
from esmc_desktop.method.values import OTHER


def _where(layer: int, position: int, pieces: list[str]) -> str:
    token = pieces[position] if position < len(pieces) else ""
    return f"layer {layer}, position {position} ({token!r})"


def _summary(truth: list[str], runs: list[np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    per = [scores(truth, labels) for labels in runs]
    mean = {m: float(np.mean([p[m] for p in per])) for m in METRICS}
    std = {m: float(np.std([p[m] for p in per], ddof=1)) if len(per) > 1 else 0.0 for m in METRICS}
    return mean, std


def _runs(method: str, k: int, seeds: int, X, config: BenchConfig, alpha: float) -> tuple[list[np.ndarray], int, str]:
    """Labels per seed, the k-means restarts used, and a note if the method could not separate anything."""
    try:
        if method in ("esmc", "esmc-last-token", "esmc-algorithm-1"):
            fitted = [esmc_head(X, k, s, alpha=alpha, readout=config.readout, optimizer=config.optimizer)
                      for s in range(seeds)]
            return [labels for labels, _ in fitted], fitted[0][1].n_init, ""
        fitted = [kmeans(X, k, s) for s in range(seeds)]
        return [f.labels_ for f in fitted], int(fitted[0].n_init), ""
    except MethodInputError as exc:  # e.g. every photo reads the same: one cluster, said in words
        return [np.zeros(X.shape[0], int)] * seeds, KMEANS_RESTARTS, str(exc)


def _named_rows(data: BenchDataset, result: ClusterResult, session: ModelSession, settings: MethodSettings,
                progress) -> dict[str, list[Row]]:
    """The `named` rows (every label name a value) and the `named-one-left-out` rows (the j-th name left out of
    every criterion in the j-th job), per criterion; each job is the product's own (ClusterJob with values)."""
    words = [[n.replace("_", " ") for n in c.label_names] for c in data.criteria]  # a phrase is a value too

    def job(left_out: int | None) -> ClusterResult:
        criteria = [Criterion(c.phrase, values=tuple(w for j, w in enumerate(ws) if j != left_out or len(ws) < 2))
                    for c, ws in zip(data.criteria, words)]
        done = ClusterJob(data.root, criteria, session, settings=settings, progress=progress).run()
        if [p.sha256 for p in done.photos] != [p.sha256 for p in result.photos]:
            raise ImageError("the photos changed while the bench ran; run it again")
        return done

    def scored(c: BenchCriterion, res) -> tuple[dict[str, float], np.ndarray, list[str]]:
        keep = np.array([p.sha256 in c.labels for p in result.photos])
        truth = [c.labels[p.sha256] for p in result.photos if p.sha256 in c.labels]
        predicted = np.asarray(res.clustering.labels)[keep]
        names = res.clustering.names
        other = predicted == names.index(OTHER) if OTHER in names else np.zeros(len(truth), bool)
        return scores(truth, predicted), other, truth

    out: dict[str, list[Row]] = {"named": [], "named-one-left-out": []}
    everything = job(None)
    for c, res in zip(data.criteria, everything.criteria):
        found, other, _ = scored(c, res)
        out["named"].append(Row(c.phrase, "named", found, {m: 0.0 for m in METRICS}, 0, True,
                                f"{other.mean():.1%} of the photos in other"))
    per: list[list[tuple[dict[str, float], float, float]]] = [[] for _ in data.criteria]
    for left in range(max(len(w) for w in words)):
        done = job(left)
        for i, (c, res) in enumerate(zip(data.criteria, done.criteria)):
            if left >= len(words[i]) or len(words[i]) < 2:
                continue
            found, other, truth = scored(c, res)
            missing = np.array([t == c.label_names[left] for t in truth])
            per[i].append((found, float(other[missing].mean()) if missing.any() else float("nan"),
                           float(other[~missing].mean())))
    for c, runs in zip(data.criteria, per):
        if not runs:
            out["named-one-left-out"].append(Row(c.phrase, "named-one-left-out", {m: float("nan") for m in METRICS},
                                                 {m: 0.0 for m in METRICS}, 0, True, "fewer than two labels"))
            continue
        mean = {m: float(np.mean([r[0][m] for r in runs])) for m in METRICS}
        std = {m: float(np.std([r[0][m] for r in runs], ddof=1)) if len(runs) > 1 else 0.0 for m in METRICS}
        left_out = [r[1] for r in runs]
        note = (f"left-out label's photos in other: mean {np.nanmean(left_out):.1%}, least {np.nanmin(left_out):.1%}; "
                f"the other photos in other: mean {np.mean([r[2] for r in runs]):.1%}, most "
                f"{np.max([r[2] for r in runs]):.1%}")
        out["named-one-left-out"].append(Row(c.phrase, "named-one-left-out", mean, std, 0, True, note))
    return out


def run_benchmark(dataset: BenchDataset | Path | str, model: ModelFiles, *,
                  config: BenchConfig = BenchConfig(), cache_dir: Path | str | None = None,
                  settings: MethodSettings = MethodSettings(), compute: ComputeRequest = ComputeRequest(),
                  note: Callable[[str], None] | None = None,
                  progress: Callable[[Progress], None] | None = None) -> Report:
    """Every method of METHODS on every criterion of the dataset; see methods.py.

    The model is opened once (`note` hears where it runs) for every job and the bench's own pass."""
    config.check()
    with ModelSession.open(model, compute, cache_dir=cache_dir, note=note) as session:
        return _bench(dataset, session, config, settings, progress)


def _bench(dataset: BenchDataset | Path | str, session: ModelSession, config: BenchConfig, settings: MethodSettings,
           progress: Callable[[Progress], None] | None) -> Report:
    data = dataset if isinstance(dataset, BenchDataset) else load_dataset(dataset, config.phrases)
    alpha = config.alpha if config.alpha is not None else data.alpha if data.alpha is not None else settings.alpha
    settings = replace(settings, alpha=alpha)
    criteria = [Criterion(c.phrase, len(c.label_names), c.keywords) for c in data.criteria]
    result = ClusterJob(data.root, criteria, session, settings=settings, progress=progress).run()
    paper = result if settings.localization == "paper" else ClusterJob(
        data.root, criteria, session, settings=replace(settings, localization="paper"), progress=progress).run()
    if [p.sha256 for p in paper.photos] != [p.sha256 for p in result.photos]:
        raise ImageError("the photos changed while the bench ran; run it again")
    readings = Reader(result, data.criteria, session, settings, config, progress).read()
    text = {q: text_vectors([" ".join(a) for a in per_photo]) for q, per_photo in readings.answers.items()}
    named_rows = _named_rows(data, result, session, settings, progress)
    rows, infos, esmc_runs = [], [], {}
    for i, (c, res) in enumerate(zip(data.criteria, result.criteria)):
        keep = np.array([p.sha256 in c.labels for p in result.photos])
        truth = [c.labels[p.sha256] for p in result.photos if p.sha256 in c.labels]
        k = len(c.label_names)
        esmc_X = res.reading.vectors
        inputs = {
            "esmc": esmc_X[keep], "esmc-no-head": esmc_X[keep],
            "esmc-last-token": readings.last_token_vectors[i][keep],
            "esmc-algorithm-1": paper.criteria[i].reading.vectors[keep],
            "output-text": text[question(res.reading.criterion.text)][keep],
            "output-text-keywords": text[KEYWORD_QUESTION][keep],
            "image-kmeans": readings.embeddings[keep],
        }
        for method in METHODS:
            if method.startswith("named"):
                rows.append(named_rows[method][i])
                continue
            if method in NO_KMEANS:
                logits = readings.keyword_logits[i] if method == "zero-shot-keywords" else readings.label_logits[i]
                if logits.shape[1] == 0:
                    runs, restarts, note = [np.zeros(int(keep.sum()), int)] * config.seeds, 0, "no keywords"
                else:
                    runs, restarts, note = [zero_shot(logits[keep])] * config.seeds, 0, ""
            else:
                runs, restarts, note = _runs(method, k, config.seeds, inputs[method], config, alpha)
            if method == "esmc":
                esmc_runs[c.phrase] = (keep, runs)
            mean, std = _summary(truth, runs)
            rows.append(Row(c.phrase, method, mean, std, restarts, method in USES_LABELS, note))
        loc, algo, last = res.reading.localization, paper.criteria[i].reading.localization, readings.last_token[i]
        infos.append(CriterionInfo(
            c.folder, c.phrase, res.reading.prompt, int(keep.sum()), k, list(res.reading.keywords), c.label_names,
            f"layer {loc.layer}, position {loc.position} ({res.reading.target_token!r})",
            _where(algo.layer, algo.position, readings.pieces[i]), _where(*last, readings.pieces[i])))
    cross = {}
    for a in data.criteria:
        keep_a, runs = esmc_runs[a.phrase]
        shas = [p.sha256 for p, kept in zip(result.photos, keep_a) if kept]
        for b in data.criteria:
            both = [j for j, sha in enumerate(shas) if sha in b.labels]
            if b.phrase != a.phrase and len(both) > 1:
                truth = [b.labels[shas[j]] for j in both]
                cross[(a.phrase, b.phrase)] = float(np.mean([scores(truth, r[both])["nmi"] for r in runs]))
    used = {
        "model": f"{session.model.lm.name} + {session.model.mmproj.name}", "photos": str(len(result.photos)),
        "seeds": str(config.seeds), "alpha": f"{alpha:g}", "head read-out": config.readout,
        "head optimizer": config.optimizer, "localization (esmc row)": settings.localization,
        "chat template": settings.template,
        "k-means restarts (every method)": str(KMEANS_RESTARTS),
        "localization samples": str(settings.n_samples), "threshold": f"{settings.threshold:g}",
        "lens": f"top-{settings.lens.top_k}, {'final norm' if settings.lens.final_norm else 'raw'}",
        "answers per photo": f"{config.answers} (temperature {config.temperature:g}, at most "
                             f"{config.answer_tokens} tokens)",
    }
    return Report(rows, cross, infos, used)
