"""From a photo folder to one clustering per criterion: the job the CLI and the GUI both run.

Stages: scan -> keywords -> localization on sampled photos -> one pass over
every photo (each photo encoded once, all criteria continuing from its image
prefix; vectors cached per photo, so a killed run resumes) -> per criterion:
K, clustering head, names, explanations. Progress goes to a callback with
photos/s and time left; a threading.Event cancels cleanly between photos.

Nothing is done twice or in vain: the folder is scanned (and hashed) while the
model loads; photos are decoded at the size the vision encoder needs, on
worker threads ahead of the model (photos/prefetch.py); the localization
samples' full-depth runs give their photos' vectors, so the photo pass skips
them (N photos, N image runs); they are not run at all when no criterion has
keywords to localize with; the pass computes only up to the deepest block
read (LlavaRuntime.run).
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from scipy import sparse

from esmc_desktop.errors import Cancelled, EsmcError, FolderError
from esmc_desktop.method.choose_k import choose_k
from esmc_desktop.method.head import ClusteringHead, HeadWeights
from esmc_desktop.method.keywords import (generate_keywords, keyword_token_ids, parse_keywords, review_keywords,
                                          too_few_keywords)
from esmc_desktop.method.localization import (DEFAULT_RULE, DEFAULT_SAMPLES, DEFAULT_SPAN, SPANS, Localization,
                                              check_rule, default_target, keyword_columns, localize, rule_key,
                                              sample_photos)
from esmc_desktop.method.naming import explain_clusters, name_clusters, photo_tokens, photo_words
from esmc_desktop.method.validation import MethodInputError
from esmc_desktop.method.values import OTHER, sort_into_values, too_few_values, value_head, value_notes
from esmc_desktop.mllm.gguf_files import fingerprint
from esmc_desktop.mllm.layouts import CHOICES
from esmc_desktop.mllm.logit_lens import LensParams, LogitLens, SparseLens
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, get_template, prompt_positions
from esmc_desktop.mllm.runtime import MAPPED, LlavaRuntime
from esmc_desktop.photos.cache import FeatureCache, VectorKey
from esmc_desktop.photos.decode import load_rgb
from esmc_desktop.photos.prefetch import Prefetch
from esmc_desktop.photos.scan import Photo, ScanRules, Skipped, scan


@dataclass(frozen=True)
class Criterion:
    """What the user typed: a phrase, optionally the number of clusters, keywords and the place to read."""

    text: str
    k: int | None = None
    keywords: tuple[str, ...] | None = None
    target: tuple[int, str] | None = None  # (block, prompt token) the user chose: read there, not localized
    values: tuple[str, ...] | None = None  # named values: each photo goes to one of them or to `other`
    discover: bool = False  # with values: the `other` photos are clustered and their clusters named

    @staticmethod
    def parse_values(text: str) -> tuple[tuple[str, ...], bool]:
        """'beach,mountains,city' -> the values, not discovering; a trailing '+' discovers the rest.

        Values are read as keywords are (phrases and digits kept); 'other' is always there, so naming it
        adds nothing.
        """
        discover = text.rstrip().endswith("+")
        values = [v for v in parse_keywords(text.rstrip().rstrip("+")) if v.casefold() != OTHER]
        if not values:
            raise EsmcError(f"no value in {text!r}: name them separated by commas, e.g. 'beach,mountains,city' "
                            f"(a last '+' also discovers the rest)")
        return tuple(values), discover

    @staticmethod
    def parse_target(spec: str) -> tuple[int, str]:
        """'26:car' -> (26, 'car'); the token is a piece of the prompt as text, or '#N' for the N-th suffix token."""
        layer, sep, token = spec.partition(":")
        if not sep or not layer.strip().isdigit() or not token.strip():
            raise EsmcError(f"a place to read is LAYER:TOKEN, e.g. 26:car (block 26, the prompt's token 'car'), "
                            f"not {spec!r}")
        return int(layer), token.strip()

    @classmethod
    def parse(cls, spec: str, keywords: str | None = None) -> "Criterion":
        """'color of the car' or 'color of the car:4'."""
        text, k = spec, None
        match = re.fullmatch(r"(.+?):\s*(\d+|auto)\s*", spec)
        if match:
            text, k = match.group(1), None if match.group(2) == "auto" else int(match.group(2))
        text = text.strip()
        if not text:
            raise EsmcError(f"empty criterion in {spec!r}")
        if k is not None and k < 2:
            raise EsmcError(f"{spec!r}: the number of clusters must be at least 2")
        return cls(text, k, tuple(parse_keywords(keywords)) if keywords else None)

    @property
    def prompt(self) -> str:
        """'color of the car' -> 'The color of the car is'; a question or a colon ending is kept as typed."""
        text = self.text.strip()
        if text.endswith(("?", ":")) or re.search(r"\bis$", text):
            return text
        text = re.sub(r"^(the|a|an)\s+", "", text, flags=re.IGNORECASE)
        return f"The {text} is"


@dataclass
class Progress:
    stage: str
    done: int
    total: int
    photos_per_second: float = 0.0
    seconds_left: float | None = None


@dataclass
class CriterionResult:
    criterion: Criterion
    prompt: str
    keywords: list[str]
    localization: Localization
    labels: np.ndarray
    confidences: np.ndarray
    names: list[str]
    explanations: list[list[str]]
    weights: HeadWeights
    vectors: sparse.csr_matrix
    used_head: bool = True
    k_scores: dict[int, float] = field(default_factory=dict)
    target_token: str = ""  # the prompt token read at localization.position
    lens_tokens: list[list[tuple[str, float]]] = field(default_factory=list)  # per photo, its top lens tokens there
    note: str = ""  # what the user should know about this clustering, in words (e.g. fewer readings than K)
    keyword_notes: list[str] = field(default_factory=list)  # keywords the lens cannot tell apart, and what was done
    prompt_tokens: list[str] = field(default_factory=list)  # the text after the image, token by token (the map's columns)


@dataclass
class StageTimes:
    """Where a run's time went, in seconds (decode is summed over the worker threads, so it overlaps)."""

    scan: float = 0.0  # listing and hashing the folder (overlaps model loading)
    load: float = 0.0  # model files, lens matrix, runtime
    decode: float = 0.0  # photos decoded and reduced, on the prefetch workers
    decode_wait: float = 0.0  # the model waiting for a photo that was not decoded yet
    model: float = 0.0  # LlavaRuntime.run
    lens: float = 0.0  # logit lens projections
    photos_decoded: int = 0


@dataclass
class ClusterResult:
    root: Path
    photos: list[Photo]
    skipped: list[Skipped]
    criteria: list[CriterionResult]
    model_fingerprint: str
    lens: LensParams
    images_encoded: int
    times: StageTimes = field(default_factory=StageTimes)
    template: str = DEFAULT_TEMPLATE

    def assignments(self) -> dict[str, list[tuple[int, str, float]]]:
        """Per criterion, (cluster, name, confidence) per photo: what `photos.export.export` takes."""
        return {c.criterion.text: [(int(label), c.names[int(label)], float(conf))
                                   for label, conf in zip(c.labels, c.confidences)] for c in self.criteria}


@dataclass(frozen=True)
class RunSettings:
    n_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    threshold: float = 0.2
    alpha: float = 0.3
    lens: LensParams = LensParams()
    n_ctx: int | None = None  # None: what one photo and its prompts need
    threads: int | None = None
    gpu_layers: int = 0  # layers llama.cpp offloads, as planned from the user's GpuLayers by mllm.gpu.plan_gpu
    # how the weights sit in memory on the CPU: mapped or repacked (mllm/runtime.py), or auto, which the
    # application layer turns into the one measured faster on this machine (mllm/weight_layout.py)
    cpu_weights: str = MAPPED
    template: str = DEFAULT_TEMPLATE  # the chat format (mllm/prompts.py)
    localization: str = DEFAULT_RULE  # 'settled' or 'paper' (method/localization.py)
    span: str = DEFAULT_SPAN  # where localization searches: 'prompt' (the criterion's own tokens) or 'template'

    def __post_init__(self) -> None:
        get_template(self.template)
        check_rule(self.localization)
        if self.cpu_weights not in CHOICES:
            raise ValueError(f"unknown CPU weight layout {self.cpu_weights!r}; choose one of {', '.join(CHOICES)}")
        if self.span not in SPANS:
            raise ValueError(f"unknown search span {self.span!r}; choose prompt or template")


def _report(progress: Callable[[Progress], None] | None, stage: str, done: int, total: int, started: float,
            computed: int) -> None:
    """Every photo counts as done, skipped ones too (a bar reaches its end); the speed and the time left are
    those of the `computed` photos alone, the ones the model ran: cached and unreadable ones take no time."""
    if progress is None:
        return
    elapsed = max(time.perf_counter() - started, 1e-9)
    rate = computed / elapsed if computed else 0.0
    left = (total - done) / rate if rate > 0 else None
    progress(Progress(stage, done, total, rate, left))


def lens_key(params: LensParams) -> str:
    """The lens part of a cached vector's key: every lens setting."""
    # -lastnorm: the last block's vectors are read through the model's final norm (mllm/logit_lens.py)
    return f"top{params.top_k}-{'norm' if params.final_norm else 'raw'}-lastnorm"


def suggest_keywords(criterion: str, lm: Path | str, settings: RunSettings = RunSettings()) -> list[str]:
    """The words the model itself names for a criterion (text only), for the user to check before a run."""
    with LlavaRuntime(lm, None, n_ctx=settings.n_ctx, n_threads=settings.threads, n_gpu_layers=settings.gpu_layers,
                      weights=settings.cpu_weights, template=settings.template) as rt:
        return _model_keywords(criterion, rt)


def _model_keywords(criterion: str, rt: LlavaRuntime) -> list[str]:
    return generate_keywords(criterion, lambda q: rt.generate(q, max_tokens=48))


@contextmanager
def _ends_with_run() -> Iterator[threading.Event]:
    """An event set when the block is left early (Ctrl+C, cancel, an error): a scan beside it then stops too."""
    over = threading.Event()
    try:
        yield over
    finally:
        over.set()


class ClusterJob:
    """One clustering run over a folder; `run()` returns a ClusterResult."""

    def __init__(self, photos_dir: Path | str, criteria: Sequence[Criterion], lm: Path | str, mmproj: Path | str,
                 *, cache_dir: Path | str | None = None, settings: RunSettings = RunSettings(),
                 progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                 rules: ScanRules = ScanRules()) -> None:
        """`rules`: what the scan passes over besides ESMC's own exports (--exclude, the output folder)."""
        if not criteria:
            raise EsmcError("give at least one criterion")
        texts = [c.text for c in criteria]
        if len(set(texts)) != len(texts):
            raise EsmcError("the same criterion is given twice")
        for c in criteria:
            if c.values is not None and c.keywords is not None:
                raise EsmcError(f"{c.text!r} has both keywords and values: its values are also the words it is "
                                f"localized with, so give only the values")
            if c.values is not None and c.k is not None:
                raise EsmcError(f"{c.text!r} has named values, so its clusters are the values (and `{OTHER}`): "
                                f"leave out ':{c.k}'")
        self.root = Path(photos_dir)
        self.criteria = list(criteria)
        self.lm, self.mmproj = Path(lm), Path(mmproj)
        self.cache_dir = cache_dir
        self.settings = settings
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.rules = rules

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled; finished photos are cached and a new run resumes from them")

    def run(self) -> ClusterResult:
        s = self.settings
        if not self.root.is_dir():  # said now, not after the model has loaded
            raise FolderError(f"{self.root} is not a folder; give the folder that holds your photos")
        times = StageTimes()
        started = time.perf_counter()
        with ThreadPoolExecutor(1, thread_name_prefix="scan") as pool, _ends_with_run() as over:
            scanning = pool.submit(self._scan, times, over)
            model_fp = fingerprint(self.lm, self.mmproj)
            lens = LogitLens.from_gguf(self.lm, s.lens)
            with LlavaRuntime(self.lm, self.mmproj, n_ctx=s.n_ctx, n_threads=s.threads,
                              n_gpu_layers=s.gpu_layers, weights=s.cpu_weights, max_prompts=len(self.criteria),
                              template=s.template) as rt, \
                    FeatureCache(self.cache_dir) as cache:
                times.load = time.perf_counter() - started
                found = scanning.result()
                skipped = list(found.skipped)
                keywords = [self._keywords(c, rt) for c in self.criteria]
                kw_ids = [keyword_token_ids(k, rt.tokenize, rt.token_text) for k in keywords]
                reviews = [review_keywords(ids, rt.token_text) for ids in kw_ids]
                read_ids = [self._localization_keywords(ids, review) for ids, review in zip(kw_ids, reviews)]
                prompts = [c.prompt for c in self.criteria]
                # why a criterion has too few keywords to localize with (None: it has enough)
                too_few = [(too_few_keywords if c.values is None else too_few_values)(c.text, list(ids))
                           for c, ids in zip(self.criteria, read_ids)]
                chosen = [self._user_target(c, p, rt) for c, p in zip(self.criteria, prompts)]
                usable, targets = self._localize(found.photos, prompts, read_ids,
                                                 [why or (user and "the place was chosen by the user") for why, user in zip(too_few, chosen)], rt, lens,
                                                 cache, model_fp, skipped, times)
                targets = [user or found for user, found in zip(chosen, targets)]
                keys = self._keys(model_fp, rt, prompts, [(t.layer, t.position) for t in targets])
                vectors, photos = self._pass(usable, keys, rt, lens, cache, skipped, times)
                # with fewer than two keywords the names come from the lens words (keywords.FALLBACK)
                names = [{} if why else review.naming for why, review in zip(too_few, reviews)]
                results = [self._sort_values(c, p, kw, kw_ids[i], t, vectors[i], rt, value_notes(review))
                           if c.values is not None else
                           self._cluster(c, p, kw, ids, t, vectors[i], rt, review.notes()) for i, (c, p, kw, ids, t, review)
                           in enumerate(zip(self.criteria, prompts, keywords, names, targets, reviews))]
                encoded = rt.stats.images_encoded
        return ClusterResult(self.root, photos, skipped, results, model_fp, s.lens, encoded, times, s.template)

    def _scan(self, times: StageTimes, stop: threading.Event):
        started = time.perf_counter()
        found = scan(self.root, rules=self.rules, stop=stop)
        times.scan = time.perf_counter() - started
        return found

    def _keys(self, model_fp: str, rt: LlavaRuntime, prompts: list[str],
              places: list[tuple[int, int]]) -> list[VectorKey]:
        """The cache key of each prompt's vector at its (layer, position) in the runtime's chat template."""
        return [VectorKey(model_fp, rt.template.key, p, layer, pos, lens_key(self.settings.lens))
                for p, (layer, pos) in zip(prompts, places)]

    def _user_target(self, criterion: Criterion, prompt: str, rt: LlavaRuntime) -> Localization | None:
        """The place the user chose for a criterion (checked against the model and the prompt), or None."""
        if criterion.target is None:
            return None
        layer, token = criterion.target
        pieces = [rt.token_text(t) for t in rt.tokenize(rt.template.suffix(prompt))]
        if not 0 <= layer < rt.n_layer:
            raise EsmcError(f"{criterion.text!r}: block {layer} is not in this model, which has blocks 0..{rt.n_layer - 1}")
        if token.startswith("#") and token[1:].isdigit() and int(token[1:]) < len(pieces):
            position = int(token[1:])
        else:
            own = prompt_positions(pieces, prompt) or list(range(len(pieces)))
            matches = [i for i in own if pieces[i].strip().lower() == token.lower()]
            if not matches:
                listed = ", ".join(f"#{i} {p.strip()!r}" for i, p in enumerate(pieces) if p.strip())
                raise EsmcError(f"{criterion.text!r}: the prompt {prompt!r} has no token {token!r}; its tokens, as the "
                                f"model reads them: {listed}")
            position = matches[-1]
        shape = (rt.n_layer, len(pieces))
        return Localization(layer, position, np.zeros(shape), np.zeros(shape), 0, False,
                            f"layer {layer}, token {pieces[position]!r}: the place you chose", "user")

    def _localization_keywords(self, ids: dict[str, list[int]], review) -> dict[str, list[int]]:
        """What localization counts: the paper's rule reads each keyword's first token as Algorithm 1 does;
        the default reads the keywords the lens can tell apart (method.keywords.review_keywords)."""
        if self.settings.localization == "paper":
            return {word: tokens[:1] for word, tokens in ids.items()}
        return review.localization

    def _keywords(self, criterion: Criterion, rt: LlavaRuntime) -> list[str]:
        if criterion.values is not None:  # the values are what localization looks for
            return list(criterion.values)
        if criterion.keywords is not None:
            return list(criterion.keywords)
        return _model_keywords(criterion.text, rt)

    def _prefetch(self, photos: list[Photo], rt: LlavaRuntime) -> Prefetch:
        """Photos decoded ahead at the size the vision encoder takes (its input side, or larger)."""
        return Prefetch(photos, lambda photo: load_rgb(photo.path, min_side=rt.image_size or None))

    def _run_model(self, rt: LlavaRuntime, image, prompts: list[str], times: StageTimes):
        started = time.perf_counter()
        run = rt.run(image, prompts)
        times.model += time.perf_counter() - started
        return run

    def _localize(self, photos, prompts, kw_ids, too_few, rt, lens, cache, model_fp, skipped, times):
        """Algorithm 1 on seeded sample photos (cached); returns decodable-so-far photos and targets.

        The samples run at full depth; their lens vectors at the chosen targets go to the cache, so the
        photo pass does not run them again. With no keywords for any criterion there is nothing to
        localize with: no sample runs.
        """
        s = self.settings
        chosen = sample_photos(len(photos), s.n_samples, s.seed) if photos else np.array([], int)
        sample = [photos[i] for i in chosen]
        columns = [keyword_columns(kw) for kw in kw_ids]
        pieces = [[rt.token_text(t) for t in rt.tokenize(rt.template.suffix(p))] for p in prompts]
        spans = [self._span(p, pc) for p, pc in zip(prompts, pieces)]
        if all(too_few):
            sample = []
        cache_key = {"model": model_fp, "template": rt.template.key, "prompts": prompts,
                     "keywords": [[[w, sorted(ids)] for w, ids in kw.items()] for kw in kw_ids],
                     "photos": [p.sha256 for p in sample], "threshold": s.threshold, "lens": lens_key(s.lens),
                     "rule": rule_key(s.localization), "span": s.span, "not localized": too_few}
        cached = cache.get_localization(cache_key)
        bad: set[str] = set()
        if cached is None:
            rt.set_layers(None)
            probs: list[list[np.ndarray]] = [[] for _ in prompts]
            readings: list[tuple[str, list]] = []  # per sample photo: its lens over every (layer, position)
            n_pos = [len(p) for p in pieces]
            started = time.perf_counter()
            with self._prefetch(sample, rt) as ready:
                for n, prepared in enumerate(ready):
                    self._check_cancel()
                    times.decode += prepared.seconds
                    times.photos_decoded += 1
                    photo = prepared.item
                    if prepared.error is not None:
                        bad.add(photo.sha256)
                        skipped.append(Skipped(photo.path, str(prepared.error)))
                        _report(self.progress, "localizing", n + 1, len(sample), started, len(readings))
                        continue
                    run = self._run_model(rt, prepared.value, prompts, times)
                    lens_started = time.perf_counter()
                    projected = [lens.project(states.hidden, rt.layers) for states in run.prompts]
                    for i, states in enumerate(run.prompts):
                        if too_few[i] is None:
                            token_ids, membership = columns[i]
                            lensed = projected[i].prob_of(token_ids) @ membership
                            probs[i].append(lensed.reshape(*states.hidden.shape[:2], membership.shape[1]))
                    times.lens += time.perf_counter() - lens_started
                    readings.append((photo.sha256, projected))
                    _report(self.progress, "localizing", n + 1, len(sample), started, len(readings))
                times.decode_wait += ready.waited
            found = []
            for i, kw in enumerate(kw_ids):
                if too_few[i] is None and probs[i]:
                    loc = localize(np.stack(probs[i]), s.threshold, list(rt.layers), rule=s.localization,
                                   span=spans[i], keywords=list(kw), tokens=pieces[i])
                else:
                    loc = default_target(rt.n_layer, n_pos[i], too_few[i] or "no sample photo could be decoded",
                                         spans[i], pieces[i], s.localization)
                found.append({"layer": loc.layer, "position": loc.position, "fallback": loc.fallback,
                              "message": loc.message, "counts": loc.counts.tolist(),
                              "mass": loc.mean_keyword_prob.tolist(), "n": loc.n_samples, "rule": loc.rule,
                              "ties": [list(t) for t in loc.ties],
                              "reads": None if loc.reads is None else loc.reads.tolist(),
                              "top": [list(row) for row in loc.top_keywords]})
            places = [(t["layer"], t["position"]) for t in found]
            self._keep_sample_vectors(readings, self._keys(model_fp, rt, prompts, places), n_pos, cache)
            if not bad:
                cache.put_localization(cache_key, {"targets": found})
            cached = {"targets": found}
        targets = [Localization(t["layer"], t["position"], np.array(t["counts"]), np.array(t["mass"]), t["n"],
                                t["fallback"], t["message"], t["rule"], tuple(tuple(x) for x in t.get("ties", [])),
                                None if t.get("reads") is None else np.array(t["reads"]),
                                tuple(tuple(row) for row in t.get("top", []))) for t in cached["targets"]]
        return [p for p in photos if p.sha256 not in bad], targets

    @staticmethod
    def _keep_sample_vectors(readings, keys: list[VectorKey], n_pos: list[int], cache: FeatureCache) -> None:
        """Cache each sample photo's vector at each criterion's target (rows are layer-major, all blocks)."""
        for sha, projected in readings:
            vectors = {}
            for key, lensed, n in zip(keys, projected, n_pos):
                row = key.layer * n + key.position
                vectors[key] = (lensed.indices[row], lensed.values[row])
            cache.put_photo(sha, vectors)

    def _span(self, prompt: str, pieces: list[str]) -> list[int]:
        """The suffix positions localization searches: the criterion's own tokens, or the whole suffix."""
        # the paper's Algorithm 1 reads every position of the prompt it is given
        paper = self.settings.localization == "paper"
        own = prompt_positions(pieces, prompt) if self.settings.span == "prompt" and not paper else []
        return own or list(range(len(pieces)))

    def _pass(self, photos, keys, rt, lens, cache, skipped, times):
        """Every photo's vector per criterion, from the cache or one model run per photo."""
        rt.set_layers(sorted({k.layer for k in keys}))
        found = [[cache.get(photo.sha256, k) for k in keys] for photo in photos]
        todo = [n for n, f in enumerate(found) if any(v is None for v in f)]
        failed: set[int] = set()
        started = time.perf_counter()
        done = len(photos) - len(todo)
        with self._prefetch([photos[n] for n in todo], rt) as ready:
            for computed, (n, prepared) in enumerate(zip(todo, ready), start=1):
                self._check_cancel()
                times.decode += prepared.seconds
                times.photos_decoded += 1
                photo = prepared.item
                if prepared.error is not None:
                    skipped.append(Skipped(photo.path, str(prepared.error)))
                    failed.add(n)
                    _report(self.progress, "reading photos", done + computed, len(photos), started,
                            computed - len(failed))
                    continue
                missing = [i for i, f in enumerate(found[n]) if f is None]
                run = self._run_model(rt, prepared.value, [keys[i].prompt for i in missing], times)
                lens_started = time.perf_counter()
                new = {}
                for i, states in zip(missing, run.prompts):
                    pos = keys[i].position
                    if pos >= len(states.token_ids):
                        raise EsmcError(f"target position {pos} is past the prompt's {len(states.token_ids)} tokens")
                    out = lens.project(states.layer(keys[i].layer)[pos][None], keys[i].layer)
                    found[n][i] = (out.indices[0], out.values[0])
                    new[keys[i]] = found[n][i]
                times.lens += time.perf_counter() - lens_started
                cache.put_photo(photo.sha256, new)
                _report(self.progress, "reading photos", done + computed, len(photos), started,
                        computed - len(failed))
            times.decode_wait += ready.waited
        if not todo:
            _report(self.progress, "reading photos", len(photos), len(photos), started, 0)
        kept = [photo for n, photo in enumerate(photos) if n not in failed]
        rows = [[found[n][i] for n in range(len(photos)) if n not in failed] for i in range(len(keys))]
        matrices = [SparseLens(np.stack([i for i, _ in per]), np.stack([v for _, v in per]), lens.n_vocab).to_csr()
                    if per else sparse.csr_matrix((0, lens.n_vocab), dtype=np.float32) for per in rows]
        return matrices, kept

    def _cluster(self, criterion, prompt, keywords, kw_ids, target, X, rt, keyword_notes) -> CriterionResult:
        s = self.settings
        token_text = rt.token_text
        suffix = rt.tokenize(rt.template.suffix(prompt))
        target_token = token_text(suffix[target.position]) if target.position < len(suffix) else ""
        k_scores: dict[int, float] = {}
        k = criterion.k
        if k is None:
            choice = choose_k(X, seed=s.seed)
            k, k_scores = choice.k, choice.scores
        head = ClusteringHead(k, alpha=s.alpha, seed=s.seed).fit(X)
        names = name_clusters(X, head.labels_, kw_ids, token_text, k)
        tokens = photo_tokens(X, token_text)
        explanations = explain_clusters(photo_words(tokens), head.labels_, n=2, n_clusters=k)
        return CriterionResult(criterion, prompt, keywords, target, head.labels_, head.confidences_, names,
                               explanations, head.weights_, X, head.used_head_, k_scores,
                               target_token, tokens, head.note_, keyword_notes, [token_text(t) for t in suffix])

    def _sort_values(self, criterion, prompt, values, value_ids, target, X, rt, keyword_notes) -> CriterionResult:
        """Named values: each photo to its value or `other` (method/values.py); with `discover`, the `other`
        photos clustered as a criterion without values is (K chosen, the head, names from the lens words).

        The head is the rule itself as a network (values.value_head), so `assign` sorts new photos as this did.
        """
        s = self.settings
        token_text = rt.token_text
        suffix = rt.tokenize(rt.template.suffix(prompt))
        target_token = token_text(suffix[target.position]) if target.position < len(suffix) else ""
        value_ids = {v: value_ids.get(v, []) for v in values}
        found = sort_into_values(X, value_ids)
        labels, names = found.labels.copy(), list(values) + [OTHER]
        note, discovered, k_scores = found.note, None, {}
        rest = np.flatnonzero(labels == len(values))
        if criterion.discover and len(rest):
            try:
                Xr = X[rest]
                choice = choose_k(Xr, seed=s.seed)
                head = ClusteringHead(choice.k, alpha=s.alpha, seed=s.seed).fit(Xr)
                k_scores, discovered = choice.scores, head.weights_
                labels[rest] = len(values) + head.labels_
                taken = {n.casefold() for n in values} | {OTHER}
                found_names = name_clusters(Xr, head.labels_, {}, token_text, choice.k)
                names = list(values) + [n if n.casefold() not in taken else f"{n} (found)" for n in found_names]
            except MethodInputError as exc:  # too few or all alike: they stay `other`, and the result says why
                note = " ".join(filter(None, [note, f"the {len(rest)} photos that read none of the values were "
                                                       f"not split further: {exc}"]))
        weights = value_head(value_ids, found.cutoff, X.shape[1], discovered)
        tokens = photo_tokens(X, token_text)
        explanations = explain_clusters(photo_words(tokens), labels, n=2, n_clusters=len(names))
        return CriterionResult(criterion, prompt, list(values), target, labels, np.full(len(labels), np.nan), names,
                               explanations, weights, X, True, k_scores, target_token, tokens, note, keyword_notes,
                               [token_text(t) for t in suffix])


@dataclass
class Assignment:
    photos: list[Photo]
    skipped: list[Skipped]
    per_criterion: dict[str, list[tuple[int, str, float]]]
    images_encoded: int


def saved_vector_key(saved, criterion) -> VectorKey:
    """The cache key of a saved criterion's lens vectors, as the clustering that made the result keyed them."""
    lens = LensParams(top_k=saved.lens_top_k, final_norm=saved.lens_final_norm)
    return VectorKey(saved.model_fingerprint, get_template(saved.template).key, criterion.prompt, criterion.layer,
                     criterion.position, lens_key(lens))


def assign_new_photos(photos_dir: Path | str, saved, lm: Path | str, mmproj: Path | str, *,
                      settings: RunSettings = RunSettings(), progress: Callable[[Progress], None] | None = None,
                      cancel: threading.Event | None = None, cache_dir: Path | str | None = None,
                      rules: ScanRules = ScanRules()) -> Assignment:
    """Sort new photos into a saved result with its ONNX heads: no re-clustering.

    Each photo's lens vectors go into the feature cache (`cache_dir`), keyed as a clustering keys them,
    so `learn` can retrain on the assigned photos too.
    """
    from esmc_desktop.saved_result import load_heads

    cancel = cancel or threading.Event()
    model_fp = fingerprint(lm, mmproj)
    heads = load_heads(saved, model_fp)
    found = scan(photos_dir, rules=rules)
    skipped = list(found.skipped)
    lens_params = LensParams(top_k=saved.lens_top_k, final_norm=saved.lens_final_norm)
    lens = LogitLens.from_gguf(lm, lens_params)
    keys = [saved_vector_key(saved, c) for c in saved.criteria]
    per: dict[str, list[tuple[int, str, float]]] = {c.text: [] for c in saved.criteria}
    kept: list[Photo] = []
    with LlavaRuntime(lm, mmproj, n_ctx=settings.n_ctx, n_threads=settings.threads,
                      n_gpu_layers=settings.gpu_layers, weights=settings.cpu_weights, max_prompts=len(saved.criteria),
                      layers=sorted({c.layer for c in saved.criteria}), template=saved.template) as rt, \
            FeatureCache(cache_dir) as cache:
        started = time.perf_counter()
        ready = Prefetch(found.photos, lambda photo: load_rgb(photo.path, min_side=rt.image_size or None))
        with ready:
            for n, prepared in enumerate(ready):
                if cancel.is_set():
                    raise Cancelled("cancelled; no photo was exported")
                photo = prepared.item
                if prepared.error is not None:
                    skipped.append(Skipped(photo.path, str(prepared.error)))
                    _report(progress, "assigning", n + 1, len(found.photos), started, len(kept))
                    continue
                run = rt.run(prepared.value, [c.prompt for c in saved.criteria])
                kept.append(photo)
                vectors = {}
                for c, key, head, states in zip(saved.criteria, keys, heads, run.prompts):
                    vec = lens.project(states.layer(c.layer)[c.position][None], c.layer)
                    vectors[key] = (vec.indices[0], vec.values[0])
                    proba = head.predict_proba_sparse(vec.indices.astype(np.int64), vec.values)[0]
                    cluster = int(proba.argmax())
                    per[c.text].append((cluster, c.names[cluster], float(proba[cluster]) if head.has_confidence
                                        else float("nan")))
                cache.put_photo(photo.sha256, vectors)
                _report(progress, "assigning", n + 1, len(found.photos), started, len(kept))
        encoded = rt.stats.images_encoded
    return Assignment(kept, skipped, per, encoded)
