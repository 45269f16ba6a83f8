"""A collection of 100,000 photos through the product's own code: open, train, assign, export, learn, window.

    xvfb-run -a -s '-screen 0 1280x900x24' python benchmarks/scale_100k.py --photos 10000 --work /tmp/scale
    xvfb-run -a -s '-screen 0 1280x900x24' python benchmarks/scale_100k.py --photos 100000 --work /tmp/scale \
        --heads-from 10000

The fixture is real files in the product's formats, built once per size under --work and reused:
N tiny JPEG photos in 100 camera-card folders named IMG_0001.jpg... (names repeat across folders, as
they do on real cards), found by the product's own scan (content hashes), and one synthetic lens
vector per photo and criterion of the real width (top-50 of LLaVA's 32,000-token vocabulary) in the
product's feature cache, keyed as a clustering keys them. No language model runs: the model pair
named in the saved result is the shipped demo pair, whose fingerprint keys the vectors.

Timed, each on its own: training the three criteria's heads (the method's ClusteringHead, plus
naming), an export of every photo in hardlink mode (folders, manifests, saved ONNX heads),
opening that saved result (result.json, the manifest, the ONNX heads), `assign` of 1,000 new
photos whose vectors are already in the cache, (with a display, e.g. under xvfb-run) the window
showing the result and scrolling the biggest cluster (~30% of the photos) page by page, with
the longest freeze of the GUI thread, and a `learn` round after 1% of one criterion's photos
were moved between cluster folders. Peak RSS is printed at the end. --profile DIR writes a
cProfile file per step. --heads-from N sorts the photos with the heads trained on the N-photo
fixture (same planted clusters) instead of training again: on two shared cores training three
heads on 100,000 photos takes longer than the rest together (it is linear in the photos).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pickle
import re
import resource
import shutil
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from esmc_desktop.app.assign import assign_photos  # noqa: E402
from esmc_desktop.app.export import export_result  # noqa: E402
from esmc_desktop.app.learn import learn_export  # noqa: E402
from esmc_desktop.app.model import ModelFiles  # noqa: E402
from esmc_desktop.app.result import SortResult  # noqa: E402
from esmc_desktop.method.head import ClusteringHead, confidences  # noqa: E402
from esmc_desktop.method.localization import default_target  # noqa: E402
from esmc_desktop.method.naming import explain_clusters, name_clusters, photo_tokens, photo_words  # noqa: E402
from esmc_desktop.mllm.gguf_files import fingerprint  # noqa: E402
from esmc_desktop.mllm.logit_lens import LensParams, SparseLens  # noqa: E402
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, get_template  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.photos.cache import FeatureCache, VectorKey  # noqa: E402
from esmc_desktop.photos.export_folder import ExportFolder  # noqa: E402
from esmc_desktop.photos.scan import scan  # noqa: E402
from esmc_desktop.engine.types import Clustering, ClusterResult, Criterion, CriterionResult, Reading  # noqa: E402
from esmc_desktop.engine.settings import lens_key  # noqa: E402
from esmc_desktop.saved_result import load_heads, load_result  # noqa: E402

N_VOCAB, TOP_K = 32000, 50
# where every criterion is read: the default place in LLaVA-1.5-7b's 32 blocks, a 4-token prompt suffix
WHERE = default_target(32, 4, "the benchmark reads every criterion at the default place")
# criterion, its clusters' shares of the photos (the first criterion's first cluster is the big one)
CRITERIA = [("color of the car", [0.30, 0.28, 0.24, 0.18]),
            ("kind of place", [0.22, 0.2, 0.18, 0.16, 0.14, 0.1]),
            ("time of day", [0.5, 0.3, 0.2])]
CARDS = 100  # camera-card folders; names repeat across them
NEW_PHOTOS = 1000
CORE, CORE_TAKEN = 20, 15  # per cluster: its own tokens, and how many of them a photo's top-50 holds
NOISE_POOL = 3000  # tokens shared by every photo's lens noise, Zipf-like


def token_text(token: int) -> str:
    return f" w{token}"


def write_photos(folder: Path, n: int, seed: int, cards: int) -> None:
    """n small, distinct JPEG files: cards/IMG_0001.jpg ... (each card restarts the numbering)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    per_card = -(-n // cards)
    for i in range(n):
        card, number = divmod(i, per_card)
        path = folder / f"card-{card + 1:03d}" / f"IMG_{number + 1:04d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((32, 24), Image.NEAREST).save(path, quality=80)


def lens_vectors(n: int, shares: list[float], rng: np.random.Generator, base: int) -> tuple[np.ndarray, ...]:
    """(indices, values, planted cluster) of n top-50 lens vectors: each cluster's own tokens plus shared noise."""
    truth = rng.choice(len(shares), size=n, p=np.array(shares) / sum(shares))
    core = base + np.arange(len(shares) * CORE).reshape(len(shares), CORE)
    pool = 2000 + np.arange(NOISE_POOL)
    log_w = np.log(1.0 / np.arange(1, NOISE_POOL + 1) ** 0.8)
    indices = np.empty((n, TOP_K), np.int32)
    for start in range(0, n, 4000):
        rows = slice(start, min(n, start + 4000))
        m = rows.stop - rows.start
        picked = np.argsort(rng.random((m, CORE)), axis=1)[:, :CORE_TAKEN]
        indices[rows, :CORE_TAKEN] = np.take_along_axis(core[truth[rows]], picked, axis=1)
        keys = log_w[None] + rng.gumbel(size=(m, NOISE_POOL))
        indices[rows, CORE_TAKEN:] = pool[np.argpartition(-keys, TOP_K - CORE_TAKEN, axis=1)[:, :TOP_K - CORE_TAKEN]]
    raw = np.concatenate([rng.gamma(2.0, 1.0, (n, CORE_TAKEN)) * 4, rng.gamma(1.0, 0.3, (n, TOP_K - CORE_TAKEN))], 1)
    order = np.argsort(-raw, axis=1, kind="stable")
    values = np.take_along_axis(raw, order, 1)
    values = (values / values.sum(axis=1, keepdims=True)).astype(np.float32)
    return np.take_along_axis(indices, order, 1), values, truth


def keys(model_fp: str) -> list[VectorKey]:
    template = get_template(DEFAULT_TEMPLATE).key
    return [VectorKey(model_fp, template, Criterion(text).prompt, WHERE.layer, WHERE.position, lens_key(LensParams()))
            for text, _ in CRITERIA]


def fill_cache(cache_dir: Path, photos, model_fp: str, seed: int) -> None:
    """Each photo's vectors into the feature cache, in its table's layout (photos/cache.py).

    Written in one transaction: a clustering commits each photo on its own, which at 100,000 photos
    costs the fixture minutes of fsyncs and tells nothing about the steps timed here.
    """
    with FeatureCache(cache_dir) as cache:
        if all(cache.get(p.sha256, keys(model_fp)[-1]) is not None for p in (photos[0], photos[-1])):
            return
        path = cache.path
    rng = np.random.default_rng(seed)
    made = [lens_vectors(len(photos), shares, rng, 100 + 200 * c) for c, (_, shares) in enumerate(CRITERIA)]
    rows = ((photo.sha256, k.model, k.template, k.prompt, k.layer, k.position, k.lens,
             m[0][n].tobytes(), m[1][n].tobytes())
            for n, photo in enumerate(photos) for k, m in zip(keys(model_fp), made))
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT OR REPLACE INTO lens_vectors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def read_vectors(cache_dir: Path, photos, model_fp: str):
    with FeatureCache(cache_dir) as cache:
        out = []
        for key in keys(model_fp):
            found = [cache.get(p.sha256, key) for p in photos]
            out.append(SparseLens(np.stack([i for i, _ in found]), np.stack([v for _, v in found]), N_VOCAB).to_csr())
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Steps:
    def __init__(self, profile: Path | None) -> None:
        self.rows: list[tuple[str, float, str]] = []
        self.profile = profile

    @contextmanager
    def timed(self, name: str, note: str = ""):
        prof = cProfile.Profile() if self.profile else None
        started = time.perf_counter()
        if prof:
            prof.enable()
        extra: dict[str, str] = {"note": note}
        yield extra
        if prof:
            prof.disable()
            self.profile.mkdir(parents=True, exist_ok=True)
            prof.dump_stats(self.profile / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] + ".prof"))
        took = time.perf_counter() - started
        self.rows.append((name, took, extra["note"]))
        print(f"{name}: {took:.2f} s {extra['note']} (peak RSS so far {peak_rss_mib():.0f} MiB)", flush=True)


def window_step(steps: Steps, result: SortResult, lm: Path, mmproj: Path, cache: Path) -> None:
    """The window shows the result; the biggest cluster of the first criterion is opened and scrolled."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(REPO / "benchmarks"))
    from gui_responsiveness import Collections, Stalls, open_cluster, scroll_pages

    from esmc_desktop.gui.main_window import MainWindow
    from esmc_desktop.engine.settings import MethodSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("esmc-desktop-benchmark")
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(cache.parent / "settings"))
    window = MainWindow(lm, mmproj, cache_dir=cache, settings=MethodSettings())
    window.show()
    app.processEvents()
    stalls = Stalls(window.status.text)
    collections = Collections()
    with steps.timed("window: show the result") as note:
        window.show_result(result)
        app.processEvents()
        note["note"] = f"(one call on the GUI thread; longest gc {collections.worst * 1000:.0f} ms)"
    view = window.view(0)
    crit = result.criterion(0)
    sizes = np.bincount(np.asarray(crit.labels), minlength=len(crit.names))
    biggest = int(sizes.argmax())
    stalls.reset()
    collections.reset()
    with steps.timed(f"window: open a cluster of {sizes[biggest]} photos") as note:
        open_cluster(app, view, biggest, limit=600)
        note["note"] = (f"(to its first thumbnails and its last cell laid out; "
                        f"longest freeze {stalls.worst * 1000:.0f} ms)")
    stalls.reset()
    collections.reset()
    with steps.timed("window: scroll it page by page") as note:
        pages, worst_frame = scroll_pages(app, view)
        note["note"] = (f"({pages} pages; slowest page {worst_frame * 1000:.0f} ms; longest freeze "
                        f"{stalls.worst * 1000:.0f} ms; longest gc {collections.worst * 1000:.0f} ms)")
    with steps.timed("window: a full garbage collection with the result on screen") as note:
        gc.collect()  # what the collector walks whenever a full collection comes while the window is in use
        note["note"] = f"({len(gc.get_objects())} objects walked, {gc.get_freeze_count()} frozen)"
    window.result.edited = False
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--work", type=Path, required=True, help="where the fixture is built once and reused")
    parser.add_argument("--profile", type=Path, help="write a cProfile file per step into this folder")
    parser.add_argument("--reuse-heads", action="store_true", help="take the heads an earlier run trained")
    parser.add_argument("--heads-from", type=int, metavar="N",
                        help="take the heads trained on the N-photo fixture (same clusters) instead of training")
    parser.add_argument("--window-only", action="store_true", help="only the window steps (with --reuse-heads: quick)")
    parser.add_argument("--no-window", action="store_true", help="leave out the window steps")
    args = parser.parse_args()
    steps = Steps(args.profile)
    work = args.work / f"n{args.photos}"
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    model_fp = fingerprint(lm, mmproj)
    cache = work / "cache"

    t = time.perf_counter()
    write_photos(work / "photos", args.photos, seed=1, cards=CARDS)
    write_photos(work / "new", NEW_PHOTOS, seed=2, cards=1)
    print(f"fixture photos ready in {time.perf_counter() - t:.1f} s", flush=True)
    with steps.timed("scan and hash the photos"):
        found = scan(work / "photos")
    photos = found.photos
    assert len(photos) == args.photos, f"{len(photos)} photos found, {len(found.skipped)} skipped"
    t = time.perf_counter()
    fill_cache(cache, photos, model_fp, seed=3)
    fill_cache(cache, scan(work / "new").photos, model_fp, seed=4)
    print(f"feature cache ready in {time.perf_counter() - t:.1f} s "
          f"({FeatureCache(cache).size_bytes() / 2**20:.0f} MiB)", flush=True)

    with steps.timed("read the cached vectors"):
        matrices = read_vectors(cache, photos, model_fp)
    trained = work / "heads.pickle"  # the benchmark's own: a rerun with --reuse-heads skips the longest step
    if args.heads_from:
        took, heads = pickle.loads((args.work / f"n{args.heads_from}" / "heads.pickle").read_bytes())
        for head, X in zip(heads, matrices):  # the same clusters' vectors: the heads sort these photos as new ones
            proba = head.weights_.predict_proba(X)
            head.labels_, head.confidences_ = proba.argmax(axis=1), confidences(head.weights_, proba)
        steps.rows.append(("head training (3 criteria)", took, f"(not at this size: the heads trained on the "
                                                               f"{args.heads_from:,}-photo fixture, timed there)"))
    elif args.reuse_heads and trained.is_file():
        took, heads = pickle.loads(trained.read_bytes())
        steps.rows.append(("head training (3 criteria)", took, "(measured when they were trained; reused)"))
    else:
        with steps.timed("head training (3 criteria)"):
            heads = [ClusteringHead(len(shares), seed=0).fit(X) for (_, shares), X in zip(CRITERIA, matrices)]
        trained.write_bytes(pickle.dumps((steps.rows[-1][1], heads)))
    criteria = [(text, X, head) for (text, _), X, head in zip(CRITERIA, matrices, heads)]
    results = []
    with steps.timed("naming and explanations (3 criteria)"):
        for text, X, head in criteria:
            k = head.n_clusters
            names = name_clusters(X, head.labels_, {}, token_text, k)
            tokens = photo_tokens(X, token_text)
            explanations = explain_clusters(photo_words(tokens), head.labels_, n=2, n_clusters=k)
            reading = Reading(Criterion(text, k), Criterion(text).prompt, [], WHERE, X, " is", tokens)
            results.append(CriterionResult(reading, Clustering(head.labels_, head.confidences_, names, explanations,
                                                               head.weights_, head.used_head_, {}, head.note_)))
    computed = ClusterResult(work / "photos", photos, [], results, model_fp, LensParams(), 0)
    result = SortResult(computed, lm, mmproj)
    with steps.timed("prepare the review (the sort's worker thread)"):
        result.prepare_review()  # as app.sort.sort_photos does before handing the result to the window

    if args.window_only:
        window_step(steps, result, lm, mmproj, cache)
        return
    out = work / "export"
    if out.exists():
        shutil.rmtree(out)
    with steps.timed("export every photo (hardlink)") as note:
        report = export_result(result, out, mode="hardlink")
        note["note"] = f"({report.files} files)"
    with steps.timed("open the saved result") as note:
        saved = load_result(out)
        manifest = ExportFolder(out).read_manifest()
        heads = load_heads(saved, model_fp)
        note["note"] = f"({len(manifest)} manifest rows, {len(heads)} heads)"
    with steps.timed(f"assign {NEW_PHOTOS} new photos (vectors cached)") as note:
        assigned = assign_photos(work / "new", out, ModelFiles(lm, mmproj), mode="hardlink", cache_dir=cache)
        note["note"] = f"({len(assigned.photos)} photos, {assigned.images_encoded} images encoded)"

    if not args.no_window and (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
        del report, manifest, heads, assigned  # the benchmark's own; the window's process would not hold them
        window_step(steps, result, lm, mmproj, cache)

    crit_dir = next(p for p in out.iterdir() if p.is_dir() and p.name.startswith("color"))
    folders = sorted(p for p in crit_dir.iterdir() if p.is_dir())
    rng = np.random.default_rng(5)
    moved = 0
    for folder, target in zip(folders, folders[1:] + folders[:1]):
        files = sorted(folder.iterdir())
        for path in rng.choice(files, size=len(files) // 100, replace=False):
            os.rename(path, target / f"moved-{path.name}")
            moved += 1
    with steps.timed("learn round") as note:
        learnt = learn_export(out, cache_dir=cache)
        changed = sum(len(c.moved) for c in learnt.criteria)
        note["note"] = f"({moved} corrections by hand; {changed} photos re-sorted)"


    print(f"\n{args.photos} photos, 3 criteria, top-{TOP_K} of a {N_VOCAB}-token vocabulary; "
          f"peak RSS {peak_rss_mib():.0f} MiB")
    print("| step | seconds | |\n|---|---:|---|")
    for name, took, note in steps.rows:
        print(f"| {name} | {took:.2f} | {note} |")


if __name__ == "__main__":
    main()
