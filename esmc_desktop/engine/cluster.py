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

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from scipy import sparse

from esmc_desktop.engine.lens_batch import LensBatch
from esmc_desktop.engine.photo_loop import PhotoLoop
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import MethodSettings, lens_key
from esmc_desktop.engine.types import (Clustering, ClusterResult, Criterion, CriterionResult, Progress, Reading,
                                       StageTimes, report_progress)
from esmc_desktop.errors import EsmcError, FolderError
from esmc_desktop.method.choose_k import choose_k
from esmc_desktop.method.head import ClusteringHead
from esmc_desktop.method.keywords import generate_keywords, keyword_token_ids, review_keywords, too_few_keywords
from esmc_desktop.method.localization import (Localization, default_target, keyword_columns, localize, rule_key,
                                              sample_photos)
from esmc_desktop.method.naming import explain_clusters, name_clusters, photo_tokens, photo_words
from esmc_desktop.method.validation import MethodInputError
from esmc_desktop.method.values import OTHER, sort_into_values, too_few_values, value_head, value_notes
from esmc_desktop.mllm.generate import generate
from esmc_desktop.mllm.logit_lens import SparseLens
from esmc_desktop.mllm.prompts import prompt_positions
from esmc_desktop.mllm.runtime import LlavaRuntime
from esmc_desktop.photos.cache import FeatureCache, VectorKey
from esmc_desktop.photos.scan import ScanRules, Skipped, scan

CANCELLED = "cancelled; finished photos are cached and a new run resumes from them"


def suggest_keywords(criterion: str, session: ModelSession, template: str) -> list[str]:
    """The words the model itself names for a criterion (text only), for the user to check before a run."""
    with session.runtime(template=template, text_only=True) as rt:
        return model_keywords(criterion, rt)


def model_keywords(criterion: str, rt: LlavaRuntime) -> list[str]:
    return generate_keywords(criterion, lambda q: generate(rt, q, max_tokens=48))


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

    def __init__(self, photos_dir: Path | str, criteria: Sequence[Criterion], session: ModelSession,
                 *, settings: MethodSettings = MethodSettings(),
                 progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                 rules: ScanRules = ScanRules()) -> None:
        """`session`: the model pair, opened (its runtime loads in `run`, beside the scan). `rules`: what the
        scan passes over besides ESMC's own exports (--exclude, the output folder)."""
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
        self.session = session
        self.settings = settings
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.rules = rules

    def run(self) -> ClusterResult:
        s = self.settings
        if not self.root.is_dir():  # said now, not after the model has loaded
            raise FolderError(f"{self.root} is not a folder; give the folder that holds your photos")
        times = StageTimes()
        started = time.perf_counter()
        with ThreadPoolExecutor(1, thread_name_prefix="scan") as pool, _ends_with_run() as over:
            scanning = pool.submit(self._scan, times, over)
            model_fp = self.session.fingerprint
            lens = self.session.lens(s.lens)
            with self.session.runtime(max_prompts=len(self.criteria), template=s.template) as rt:
                cache = self.session.cache()  # opened once the model has loaded: a stop while loading writes nothing
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
        return model_keywords(criterion.text, rt)

    def _loop(self, rt: LlavaRuntime, stage: str, skipped: list[Skipped], times: StageTimes) -> PhotoLoop:
        return PhotoLoop(rt, stage, progress=self.progress, cancel=self.cancel, cancelled=CANCELLED, times=times,
                         skipped=skipped)

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
            loop = self._loop(rt, "localizing", skipped, times)
            for read in loop.read(sample, lambda n: prompts):
                lens_started = time.perf_counter()
                projected = [lens.project(states.hidden, rt.layers) for states in read.run.prompts]
                for i, states in enumerate(read.run.prompts):
                    if too_few[i] is None:
                        token_ids, membership = columns[i]
                        lensed = projected[i].prob_of(token_ids) @ membership
                        probs[i].append(lensed.reshape(*states.hidden.shape[:2], membership.shape[1]))
                times.lens += time.perf_counter() - lens_started
                readings.append((read.photo.sha256, projected))
            bad = {sample[n].sha256 for n in loop.failed}
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
        done = len(photos) - len(todo)
        missing = [[i for i, f in enumerate(found[n]) if f is None] for n in todo]
        loop = self._loop(rt, "reading photos", skipped, times)
        at = {photos[n].sha256: n for n in todo}

        def store(photo, readings):
            for i, reading in readings.items():
                found[at[photo.sha256]][i] = reading
            cache.put_photo(photo.sha256, {keys[i]: reading for i, reading in readings.items()})

        with LensBatch(lens, store) as batch:
            for read in loop.read([photos[n] for n in todo], lambda j: [keys[i].prompt for i in missing[j]],
                                  done_before=done):
                rows = []
                for i, states in zip(missing[read.index], read.run.prompts):
                    pos = keys[i].position
                    if pos >= len(states.token_ids):
                        raise EsmcError(f"target position {pos} is past the prompt's {len(states.token_ids)} tokens")
                    rows.append((i, states.layer(keys[i].layer)[pos], keys[i].layer))
                batch.add(read.photo, rows, read.seconds)
        times.lens += batch.seconds
        if not todo:
            report_progress(self.progress, "reading photos", len(photos), len(photos), time.perf_counter(), 0)
        failed = {todo[j] for j in loop.failed}
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
        reading = Reading(criterion, prompt, keywords, target, X, target_token, tokens, keyword_notes,
                          [token_text(t) for t in suffix])
        return CriterionResult(reading, Clustering(head.labels_, head.confidences_, names, explanations,
                                                   head.weights_, head.used_head_, k_scores, head.note_))

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
        weights = value_head(value_ids, found.cutoff, X.shape[1], discovered, found.prior)
        tokens = photo_tokens(X, token_text)
        explanations = explain_clusters(photo_words(tokens), labels, n=2, n_clusters=len(names))
        reading = Reading(criterion, prompt, list(values), target, X, target_token, tokens, keyword_notes,
                          [token_text(t) for t in suffix])
        return CriterionResult(reading, Clustering(labels, np.full(len(labels), np.nan), names, explanations, weights,
                                                   True, k_scores, note))
