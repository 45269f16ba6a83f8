"""The bench's own pass over the photos, besides ESMC's job: the last-token vectors, the keyword and
label-name logits at ESMC's target, the image embeddings and the sampled answers, all cached like
the product's vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from esmc_desktop.bench.dataset import BenchCriterion
from esmc_desktop.bench.methods import KEYWORD_QUESTION, BenchConfig, question
from esmc_desktop.engine.photo_loop import PhotoLoop
from esmc_desktop.engine.session import ModelSession
from esmc_desktop.engine.settings import MethodSettings, lens_key
from esmc_desktop.engine.types import ClusterResult
from esmc_desktop.errors import ImageError
from esmc_desktop.method.keywords import keyword_token_ids
from esmc_desktop.mllm.generate import answers
from esmc_desktop.photos.cache import VectorKey
from esmc_desktop.photos.decode import load_rgb


@dataclass
class Readings:
    """What the bench's own pass read per criterion (rows follow ClusterResult.photos)."""

    last_token: list[tuple[int, int]]
    last_token_vectors: list[sparse.csr_matrix]
    keyword_logits: list[np.ndarray]  # (n_photos, n_keywords) at ESMC's target
    label_logits: list[np.ndarray]  # (n_photos, n_labels) at ESMC's target
    embeddings: np.ndarray
    answers: dict[str, list[list[str]]]  # question -> per photo, its sampled answers
    pieces: list[list[str]]  # per criterion, the text of each prompt token after the image


def _label_words(names: list[str]) -> list[str]:
    return [n.replace("_", " ").split()[0].lower() for n in names]


def _keyword_logits(logits: np.ndarray, ids: dict[str, list[int]], words: list[str]) -> np.ndarray:
    """A keyword's score is its most probable form's logit (softmax is monotone, so argmax is the
    most probable keyword); a word with no token gets -inf."""
    return np.array([max(logits[i] for i in ids[w]) if w in ids else -np.inf for w in words], np.float32)


class Reader:
    """The bench's own pass: the last-token vectors, keyword logits,
    image embeddings and sampled answers; everything cached like the product's vectors."""

    def __init__(self, result: ClusterResult, data: list[BenchCriterion], session: ModelSession,
                 settings: MethodSettings, config: BenchConfig, progress) -> None:
        self.result, self.data, self.session = result, data, session
        self.settings, self.config, self.progress = settings, config, progress
        self.model = session.fingerprint
        self.lens_key = lens_key(settings.lens)

    def read(self) -> Readings:
        s = self.settings
        lens = self.session.lens(s.lens)
        prompts = [c.reading.prompt for c in self.result.criteria]
        with self.session.runtime(max_prompts=len(prompts), template=s.template) as rt:
            cache = self.session.cache()
            kw_ids = [keyword_token_ids(c.reading.keywords, rt.tokenize, rt.token_text)
                      for c in self.result.criteria]
            labels = [_label_words(d.label_names) for d in self.data]
            label_ids = [keyword_token_ids(words, rt.tokenize, rt.token_text) for words in labels]
            pieces = [[rt.token_text(t) for t in rt.tokenize(rt.template.suffix(p))] for p in prompts]
            last = [(rt.n_layer - 1, len(p) - 1) for p in pieces]
            readings = self._pass(rt, lens, cache, prompts, kw_ids, label_ids, labels, last)
            readings.pieces = pieces
            return readings

    def _pass(self, rt, lens, cache, prompts, kw_ids, label_ids, labels, last) -> Readings:
        model, template = self.model, rt.template.key
        esmc = [(r.reading.localization.layer, r.reading.localization.position) for r in self.result.criteria]
        words = [list(r.reading.keywords) for r in self.result.criteria]

        def vkey(i, target, kind):
            return VectorKey(model, template, prompts[i], target[0], target[1], kind)

        keys = {
            "last-token": [vkey(i, last[i], f"bench-{self.lens_key}") for i in range(len(prompts))],
            "keywords": [vkey(i, esmc[i], "bench-logits:" + ",".join(words[i])) for i in range(len(prompts))],
            "labels": [vkey(i, esmc[i], "bench-logits:" + ",".join(labels[i])) for i in range(len(prompts))],
        }
        image_key = VectorKey(model, "", "(image embedding)", -1, -1, "mean projector output")
        questions = [question(r.reading.criterion.text) for r in self.result.criteria] + [KEYWORD_QUESTION]
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
        sampled = {q: [texts[n][q]["answers"] for n in range(len(photos))] for q in questions}

        def csr(rows):
            return sparse.csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([i for i, _ in rows]),
                                      np.arange(0, sum(len(i) for i, _ in rows) + 1, len(rows[0][0]))),
                                     shape=(len(rows), lens.n_vocab))

        return Readings(last, [csr(r) for r in out["last-token"]],
                        [np.stack([v for _, v in r]) for r in out["keywords"]],
                        [np.stack([v for _, v in r]) for r in out["labels"]], np.stack(embeddings), sampled, [])

    def _answer_key(self, sha: str, q: str) -> dict:
        c = self.config
        return {"bench": "answers", "model": self.model, "photo": sha, "question": q, "n": c.answers,
                "temperature": c.temperature, "max_tokens": c.answer_tokens, "seed": self.settings.seed}

    def _sample(self, rt, image, sha: str, j: int, q: str) -> list[str]:
        seed = int(np.random.SeedSequence([self.settings.seed, int(sha[:12], 16), j]).generate_state(1)[0])
        return answers(rt, q, image=image, n=self.config.answers, max_tokens=self.config.answer_tokens,
                       temperature=self.config.temperature, seed=seed)
