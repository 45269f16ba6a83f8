"""`esmc-desktop bench`: ESMC against the papers' baselines on a labelled dataset, same photos, same model.

The dataset and its criteria: see dataset.py. Methods (METHODS), all on the
same photos, each criterion scored on the photos labelled under it:

  esmc                   the product's job (ClusterJob: keywords, localization, lens vectors),
                         then the clustering head (Algorithm 2)
  esmc-no-head           k-means on the same vectors (ESMC Table 3, "w/o MLP")
  esmc-last-token        the head on the lens vector of the last prompt token at the last
                         block: no localization (where the model predicts its answer)
  esmc-algorithm-1       the same job with the paper's Algorithm 1 as written (`--localization
                         paper`): its target, its vectors, the head
  zero-shot-keywords     each photo's most probable keyword at ESMC's target (the keywords
                         ESMC used: the model's own, or the criteria file's)
  zero-shot-label-names  the same with the true label names: USES LABELS, an upper bound
                         (Multi-Sub's zero-shot CLIP with ground-truth names)
  output-text            the text-guided clustering paper's prompt-guided baseline: several
                         answers per photo sampled at temperature 1 to the criterion's question,
                         TF-IDF without English stop words, vocabulary capped at 2000, k-means
  output-text-keywords   the same with its keyword question, "Which keywords describe the image?"
  image-kmeans           k-means on the photo's image embedding (mean projector output)
  named                  the product's named values (`cluster --values`) with the true label names as the
                         values: USES LABELS; `other` is scored as a cluster of its own
  named-one-left-out     the same with one label name left out, each in turn (mean and spread over the
                         left-out label, not seeds): its photos should go to `other`; the note gives the
                         share of them that did, and of the other photos

Variance: every clustering is repeated for `seeds` seeds (k-means initialisation and
the head's MLP initialisation); the photos' readings, the targets and the sampled
answers are fixed by MethodSettings.seed. Every k-means uses KMEANS_RESTARTS restarts,
the head's own k-means included. Labels are used for the metrics only (and, marked,
for the zero-shot upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse

from esmc_desktop.bench.dataset import BenchCriterion, BenchDataset, load_dataset
from esmc_desktop.engine.cluster import ClusterJob
from esmc_desktop.engine.photo_loop import PhotoLoop
from esmc_desktop.engine.session import ModelFiles, ModelSession
from esmc_desktop.engine.settings import ComputeRequest, MethodSettings, lens_key
from esmc_desktop.engine.types import ClusterResult, Criterion, Progress
from esmc_desktop.errors import ImageError
from esmc_desktop.method.baselines import KMEANS_RESTARTS, READOUTS, esmc_head, kmeans, text_vectors, zero_shot
from esmc_desktop.method.head import OPTIMIZERS
from esmc_desktop.method.keywords import keyword_token_ids
from esmc_desktop.method.metrics import scores
from esmc_desktop.method.validation import MethodInputError
from esmc_desktop.method.values import OTHER
from esmc_desktop.mllm.generate import answers
from esmc_desktop.photos.cache import VectorKey
from esmc_desktop.photos.decode import load_rgb

METHODS = {
    "esmc": "ESMC: the clustering head on the lens vectors at the localized target",
    "esmc-no-head": "k-means on the same lens vectors (Table 3, w/o MLP)",
    "esmc-last-token": "the head at the last prompt token of the last block (no localization)",
    "esmc-algorithm-1": "the head at the target of the paper's Algorithm 1",
    "zero-shot-keywords": "each photo's most probable keyword at ESMC's target",
    "zero-shot-label-names": "each photo's most probable true label name at ESMC's target (uses labels)",
    "output-text": "sampled answers to the criterion question -> TF-IDF -> k-means",
    "output-text-keywords": "sampled answers to 'Which keywords describe the image?' -> TF-IDF -> k-means",
    "image-kmeans": "k-means on the image embedding (mean projector output)",
    "named": "the label names as named values (--values), `other` its own cluster (uses labels)",
    "named-one-left-out": "the same with one label name left out, each in turn (spread over the left-out label): "
                          "its photos should go to `other`",
}
USES_LABELS = frozenset({"zero-shot-label-names", "named", "named-one-left-out"})
NO_KMEANS = frozenset({"zero-shot-keywords", "zero-shot-label-names", "named", "named-one-left-out"})
METRICS = ("nmi", "ri", "ari", "acc")
KEYWORD_QUESTION = "Which keywords describe the image?"  # the text-guided clustering paper's keyword-guided question


@dataclass(frozen=True)
class BenchConfig:
    """The bench's knobs; all of them are written into the report."""

    seeds: int = 10
    alpha: float | None = None  # None: the dataset's criteria.toml, else MethodSettings.alpha (0.3)
    readout: str = "argmax"  # the head's labels: MLP argmax (Algorithm 2) or k-means on its outputs (released script)
    optimizer: str = "sgd"  # the head's optimizer: "sgd" (ours) or "adam" (released script, lr 1e-4)
    answers: int = 6  # sampled answers per photo and question (the text-guided paper's choice)
    answer_tokens: int = 80  # at most this many tokens per answer (the text-guided paper's 80)
    temperature: float = 1.0  # plain sampling, "without any additional parameters"
    phrases: dict[str, str] = field(default_factory=dict)  # criterion folder -> phrase (--criterion)

    def check(self) -> None:
        from esmc_desktop.errors import EsmcError

        if self.seeds < 1:
            raise EsmcError("--seeds must be at least 1")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise EsmcError(f"--alpha must be in (0, 1], got {self.alpha}")
        if self.answers < 1 or self.answer_tokens < 1:
            raise EsmcError("--answers and --answer-tokens must be at least 1")
        for name, value, allowed in (("--readout", self.readout, READOUTS), ("--optimizer", self.optimizer, OPTIMIZERS)):
            if value not in allowed:
                raise EsmcError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class Row:
    criterion: str
    method: str
    mean: dict[str, float]
    std: dict[str, float]
    kmeans_restarts: int  # 0 for methods without k-means
    uses_labels: bool
    note: str = ""


@dataclass(frozen=True)
class CriterionInfo:
    folder: str
    phrase: str
    prompt: str
    photos: int
    k: int
    keywords: list[str]
    label_names: list[str]
    target: str  # "layer L, position P ('token')"
    algorithm_1_target: str
    last_token_target: str


@dataclass
class Report:
    rows: list[Row]
    cross: dict[tuple[str, str], float]  # (clustered by, labels of) -> mean NMI of ESMC's clustering
    criteria: list[CriterionInfo]
    settings: dict[str, str]


@dataclass
class _Readings:
    """What the bench's own pass read per criterion (rows follow ClusterResult.photos)."""

    last_token: list[tuple[int, int]]
    last_token_vectors: list[sparse.csr_matrix]
    keyword_logits: list[np.ndarray]  # (n_photos, n_keywords) at ESMC's target
    label_logits: list[np.ndarray]  # (n_photos, n_labels) at ESMC's target
    embeddings: np.ndarray
    answers: dict[str, list[list[str]]]  # question -> per photo, its sampled answers
    pieces: list[list[str]]  # per criterion, the text of each prompt token after the image


def question(criterion: str) -> str:
    """'color of the object' -> 'What is the color of the object? Answer with one word.'"""
    return f"What is the {criterion.removeprefix('the ').strip()}? Answer with one word."


def _label_words(names: list[str]) -> list[str]:
    return [n.replace("_", " ").split()[0].lower() for n in names]


def _keyword_logits(logits: np.ndarray, ids: dict[str, list[int]], words: list[str]) -> np.ndarray:
    """A keyword's score is its most probable form's logit (softmax is monotone, so argmax is the
    most probable keyword); a word with no token gets -inf."""
    return np.array([max(logits[i] for i in ids[w]) if w in ids else -np.inf for w in words], np.float32)


class _Reader:
    """The bench's own pass: the last-token vectors, keyword logits,
    image embeddings and sampled answers; everything cached like the product's vectors."""

    def __init__(self, result: ClusterResult, data: list[BenchCriterion], session: ModelSession,
                 settings: MethodSettings, config: BenchConfig, progress) -> None:
        self.result, self.data, self.session = result, data, session
        self.settings, self.config, self.progress = settings, config, progress
        self.model = session.fingerprint
        self.lens_key = lens_key(settings.lens)

    def read(self) -> _Readings:
        s = self.settings
        lens = self.session.lens(s.lens)
        prompts = [c.prompt for c in self.result.criteria]
        with self.session.runtime(max_prompts=len(prompts), template=s.template) as rt:
            cache = self.session.cache()
            kw_ids = [keyword_token_ids(c.keywords, rt.tokenize, rt.token_text) for c in self.result.criteria]
            labels = [_label_words(d.label_names) for d in self.data]
            label_ids = [keyword_token_ids(words, rt.tokenize, rt.token_text) for words in labels]
            pieces = [[rt.token_text(t) for t in rt.tokenize(rt.template.suffix(p))] for p in prompts]
            last = [(rt.n_layer - 1, len(p) - 1) for p in pieces]
            readings = self._pass(rt, lens, cache, prompts, kw_ids, label_ids, labels, last)
            readings.pieces = pieces
            return readings

    def _pass(self, rt, lens, cache, prompts, kw_ids, label_ids, labels, last) -> _Readings:
        model, template = self.model, rt.template.key
        esmc = [(r.localization.layer, r.localization.position) for r in self.result.criteria]
        words = [list(r.keywords) for r in self.result.criteria]

        def vkey(i, target, kind):
            return VectorKey(model, template, prompts[i], target[0], target[1], kind)

        keys = {
            "last-token": [vkey(i, last[i], f"bench-{self.lens_key}") for i in range(len(prompts))],
            "keywords": [vkey(i, esmc[i], "bench-logits:" + ",".join(words[i])) for i in range(len(prompts))],
            "labels": [vkey(i, esmc[i], "bench-logits:" + ",".join(labels[i])) for i in range(len(prompts))],
        }
        image_key = VectorKey(model, "", "(image embedding)", -1, -1, "mean projector output")
        questions = [question(r.criterion.text) for r in self.result.criteria] + [KEYWORD_QUESTION]
        rt.set_layers(sorted({t[0] for t in last + esmc}))
        photos = self.result.photos
        found = [{name: [cache.get(photo.sha256, k) for k in ks] for name, ks in keys.items()} for photo in photos]
        embs = [cache.get(photo.sha256, image_key) for photo in photos]
        texts = [{q: cache.get_localization(self._answer_key(photo.sha256, q)) for q in questions} for photo in photos]
        unread = [any(f is None for fs in found[n].values() for f in fs) for n in range(len(photos))]
        todo = [n for n in range(len(photos)) if unread[n] or embs[n] is None or None in texts[n].values()]
        # full size, as the bench always read them (the runtime reduces them itself)
        loop = PhotoLoop(rt, "bench: baselines", progress=self.progress, decode=lambda photo: load_rgb(photo.path))
        for read in loop.read([photos[n] for n in todo], lambda j: prompts if unread[todo[j]] else [],
                              done_before=len(photos) - len(todo)):
            n, image = todo[read.index], read.image
            if read.run is not None:
                new = {}
                for i, states in enumerate(read.run.prompts):
                    v = lens.project(states.layer(last[i][0])[last[i][1]][None], last[i][0])
                    new[keys["last-token"][i]] = (v.indices[0], v.values[0])
                    logits = lens.logits(states.layer(esmc[i][0])[esmc[i][1]][None])[0]
                    for name, ids, ws in (("keywords", kw_ids[i], words[i]), ("labels", label_ids[i], labels[i])):
                        new[keys[name][i]] = (np.arange(len(ws), dtype=np.int32), _keyword_logits(logits, ids, ws))
                cache.put_photo(read.photo.sha256, new)
                found[n] = {name: [new[k] for k in ks] for name, ks in keys.items()}
            if embs[n] is None:
                vec = rt.image_features(image).mean(axis=0)
                embs[n] = (np.arange(len(vec), dtype=np.int32), vec.astype(np.float32))
                cache.put_photo(read.photo.sha256, {image_key: embs[n]})
            for j, q in enumerate(questions):
                if texts[n][q] is None:
                    texts[n][q] = {"answers": self._sample(rt, image, read.photo.sha256, j, q)}
                    cache.put_localization(self._answer_key(read.photo.sha256, q), texts[n][q])
        if loop.skipped:  # decoded once already by the job; a file changed since
            raise ImageError(f"{loop.skipped[0].path} could not be read again; run the bench again")
        out = {name: [[found[n][name][i] for n in range(len(photos))] for i in range(len(prompts))] for name in keys}
        embeddings = [emb[1] for emb in embs]
        answers = {q: [texts[n][q]["answers"] for n in range(len(photos))] for q in questions}

        def csr(rows):
            return sparse.csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([i for i, _ in rows]),
                                      np.arange(0, sum(len(i) for i, _ in rows) + 1, len(rows[0][0]))),
                                     shape=(len(rows), lens.n_vocab))

        return _Readings(last, [csr(r) for r in out["last-token"]],
                         [np.stack([v for _, v in r]) for r in out["keywords"]],
                         [np.stack([v for _, v in r]) for r in out["labels"]], np.stack(embeddings), answers, [])

    def _answer_key(self, sha: str, q: str) -> dict:
        c = self.config
        return {"bench": "answers", "model": self.model, "photo": sha, "question": q, "n": c.answers,
                "temperature": c.temperature, "max_tokens": c.answer_tokens, "seed": self.settings.seed}

    def _sample(self, rt, image, sha: str, j: int, q: str) -> list[str]:
        seed = int(np.random.SeedSequence([self.settings.seed, int(sha[:12], 16), j]).generate_state(1)[0])
        return answers(rt, q, image=image, n=self.config.answers, max_tokens=self.config.answer_tokens,
                       temperature=self.config.temperature, seed=seed)


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
        predicted = np.asarray(res.labels)[keep]
        other = predicted == res.names.index(OTHER) if OTHER in res.names else np.zeros(len(truth), bool)
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
    """Every method of METHODS on every criterion of the dataset; see the module docstring.

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
    readings = _Reader(result, data.criteria, session, settings, config, progress).read()
    text = {q: text_vectors([" ".join(a) for a in per_photo]) for q, per_photo in readings.answers.items()}
    named_rows = _named_rows(data, result, session, settings, progress)
    rows, infos, esmc_runs = [], [], {}
    for i, (c, res) in enumerate(zip(data.criteria, result.criteria)):
        keep = np.array([p.sha256 in c.labels for p in result.photos])
        truth = [c.labels[p.sha256] for p in result.photos if p.sha256 in c.labels]
        k = len(c.label_names)
        esmc_X = res.vectors
        inputs = {
            "esmc": esmc_X[keep], "esmc-no-head": esmc_X[keep],
            "esmc-last-token": readings.last_token_vectors[i][keep],
            "esmc-algorithm-1": paper.criteria[i].vectors[keep],
            "output-text": text[question(res.criterion.text)][keep],
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
        loc, algo, last = res.localization, paper.criteria[i].localization, readings.last_token[i]
        infos.append(CriterionInfo(
            c.folder, c.phrase, res.prompt, int(keep.sum()), k, list(res.keywords), c.label_names,
            f"layer {loc.layer}, position {loc.position} ({res.target_token!r})",
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
