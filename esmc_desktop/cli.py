"""The `esmc-desktop` command line.

Exit codes scripts can rely on: 0 success, 1 a problem with the input (one
`error: ...` line on stderr saying what to do), 2 a usage error, 130 interrupted.
Anything else that escapes is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from esmc_desktop import __version__
from esmc_desktop.app import checks
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gpu import GpuLayers

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _cell(token: str, prob: float, width: int) -> str:
    text = f"{token!r}"[1:-1] + f" {prob:.2f}"
    return text[:width].ljust(width)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the logit lens at every layer and prompt token (ESMC's Figure 3 as text)."""
    from esmc_desktop.mllm.logit_lens import DEFAULT_TOP_K, LensParams, LogitLens
    from esmc_desktop.mllm.runtime import LlavaRuntime
    from esmc_desktop.photos.decode import load_rgb

    if args.npz and len(args.prompt) != 1:
        raise EsmcError("--npz saves one prompt's hidden states: give exactly one --prompt")
    image = load_rgb(args.image)
    if args.top < 1:
        raise EsmcError("--top must be at least 1")
    lm, mmproj, gpu_layers = _resolve_model(args)
    lens = LogitLens.from_gguf(lm, LensParams(top_k=max(args.top, DEFAULT_TOP_K)))
    with LlavaRuntime(lm, mmproj, n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=gpu_layers) as rt:
        run = rt.run(image, args.prompt)
        _print_lens(run, lens, rt.token_text, args.top)
    if args.npz:
        states = run.prompts[0]
        arrays = {f"layer_{layer}": states.layer(layer) for layer in states.layers}
        np.savez(args.npz, tokens=np.array(states.tokens, dtype=str),
                 token_ids=np.array(states.token_ids, np.int32), prefix_ids=np.array(run.prefix_ids, np.int32),
                 n_image_tokens=np.int32(run.n_image_tokens), **arrays)
        print(f"hidden states saved to {args.npz}")
    return EXIT_OK


def _print_lens(run, lens, token_text, top: int) -> None:
    for states in run.prompts:
        print(f"prompt: {states.prompt!r}  ({len(states.token_ids)} text tokens after {run.n_image_tokens} image tokens)")
        n_layers, n_tokens, _ = states.hidden.shape
        sparse = lens.project(states.hidden)
        idx = sparse.indices.reshape(n_layers, n_tokens, -1)
        val = sparse.values.reshape(n_layers, n_tokens, -1)
        if top == 1:
            width = 14
            header = "layer | " + " | ".join(f"{t!r}"[1:-1][:width].ljust(width) for t in states.tokens)
            print(header)
            print("-" * len(header))
            for li, layer in enumerate(states.layers):
                cells = [_cell(token_text(int(idx[li, t, 0])), float(val[li, t, 0]), width) for t in range(n_tokens)]
                print(f"{layer:5d} | " + " | ".join(cells))
        else:
            for li, layer in enumerate(states.layers):
                for t, tok in enumerate(states.tokens):
                    tops = ", ".join(f"{token_text(int(i))!r} {v:.2f}" for i, v in zip(idx[li, t, :top], val[li, t, :top]))
                    print(f"layer {layer:3d} token {t:2d} {tok!r:>12}: {tops}")
        print()


def _model_files(args: argparse.Namespace) -> tuple[Path, Path]:
    """(LM path, mmproj path) from --model/--mmproj."""
    from esmc_desktop.mllm.registry import ModelRegistry

    if args.mmproj is not None:
        if args.model is None:
            raise EsmcError("--mmproj needs --model (the language model GGUF) too")
        return Path(args.model), Path(args.mmproj)
    entry = ModelRegistry().get(args.model)
    return entry.lm, entry.mmproj


def _resolve_model(args: argparse.Namespace) -> tuple[Path, Path, int]:
    """(LM path, mmproj path, GPU layers) from --model/--mmproj/--gpu-layers, checked with --n-ctx before any
    long work; says on stderr where it runs."""
    from esmc_desktop.mllm.gpu import plan_gpu

    lm, mmproj = _model_files(args)
    checks.model_files(lm, mmproj)
    checks.context_size(args.n_ctx, mmproj)
    plan = plan_gpu(args.gpu_layers or GpuLayers(), lm)
    print(plan.message, file=sys.stderr)
    return lm, mmproj, plan.n_gpu_layers


def _describe(info) -> list[str]:
    if info.is_mmproj:
        keys = [("projector", "clip.projector_type"), ("vision blocks", "clip.vision.block_count"),
                ("vision width", "clip.vision.embedding_length"), ("image size", "clip.vision.image_size"),
                ("patch size", "clip.vision.patch_size"), ("output width", "clip.vision.projection_dim")]
        kind = "vision projector (mmproj)"
    else:
        keys = [("layers", "llama.block_count"), ("embedding width", "llama.embedding_length"),
                ("heads", "llama.attention.head_count"), ("context", "llama.context_length"),
                ("vocabulary", "tokenizer.ggml.tokens")]
        kind = "language model"
    lines = [f"{info.path}", f"  kind: {kind}, architecture {info.architecture}, quantization {info.file_type}, "
                              f"{info.n_tensors} tensors, {info.path.stat().st_size / 2**20:.1f} MiB"]
    lines += [f"  {label}: {info.get(key)}" for label, key in keys if info.get(key) is not None]
    return lines


def cmd_models_check(args: argparse.Namespace) -> int:
    """Describe both files and check they form a working pair."""
    from esmc_desktop.mllm.gguf_files import check_pair, read_info
    from esmc_desktop.mllm.legacy_mmproj import is_legacy

    problems = []
    infos = []
    for path in (args.lm, args.mmproj):
        try:
            infos.append(read_info(path))
        except EsmcError as exc:
            problems.append(str(exc))
    for info in infos:
        print("\n".join(_describe(info)))
        if is_legacy(info):
            print("  note: legacy LLaVA-1.5 mmproj, one CLIP block short in this llama.cpp")
    if not problems:
        try:
            check_pair(args.lm, args.mmproj)
        except EsmcError as exc:
            problems.append(str(exc))
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return EXIT_INPUT
    print("ok: these files work together")
    return EXIT_OK


def cmd_models_repair(args: argparse.Namespace) -> int:
    """Write a repaired copy of a legacy mmproj."""
    from esmc_desktop.mllm.legacy_mmproj import repair_mmproj

    try:
        blocks = repair_mmproj(args.src, args.dst)
    except (ValueError, FileExistsError) as exc:
        raise EsmcError(str(exc)) from exc
    print(f"wrote {args.dst}: {blocks} vision blocks declared, the last one a placeholder llama.cpp never runs")
    return EXIT_OK


def cmd_models_list(args: argparse.Namespace) -> int:
    from esmc_desktop.mllm.registry import ModelRegistry

    entries = ModelRegistry().entries()
    if not entries:
        print("no models yet: add one with `esmc-desktop models add NAME LM.gguf MMPROJ.gguf`")
    for i, e in enumerate(entries):
        print(f"{e.name}{' (default)' if i == 0 else ''}\t{e.lm}\t{e.mmproj}\t{e.fingerprint}")
    return EXIT_OK


def cmd_models_add(args: argparse.Namespace) -> int:
    from esmc_desktop.mllm.registry import ModelRegistry

    entry = ModelRegistry().add(args.name, args.lm, args.mmproj)
    print(f"added {entry.name} (fingerprint {entry.fingerprint})")
    return EXIT_OK


def cmd_models_remove(args: argparse.Namespace) -> int:
    from esmc_desktop.mllm.registry import ModelRegistry

    ModelRegistry().remove(args.name)
    print(f"removed {args.name} (its files are untouched)")
    return EXIT_OK


def _tqdm_progress(quiet: bool):
    """A progress callback drawing a tqdm bar per stage on stderr (photos/s and time left)."""
    if quiet:
        return None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def show(p) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            bar = bars[p.stage] = tqdm(total=p.total, desc=p.stage, unit="photo", file=sys.stderr, leave=True)
        bar.n = p.done
        bar.refresh()
        if p.done >= p.total:
            bar.close()

    return show


def _settings(args: argparse.Namespace, gpu_layers: int):
    from esmc_desktop.pipeline import RunSettings

    if args.samples < 1:
        raise EsmcError("--samples must be at least 1")
    return RunSettings(n_samples=args.samples, seed=args.seed, n_ctx=args.n_ctx, threads=args.threads,
                       gpu_layers=gpu_layers)


def _criteria(args: argparse.Namespace):
    import dataclasses

    from esmc_desktop.method.keywords import parse_keywords
    from esmc_desktop.pipeline import Criterion

    criteria = [Criterion.parse(c) for c in args.criterion]
    by_text = {c.text: i for i, c in enumerate(criteria)}
    for spec in args.keywords or []:
        name, sep, words = spec.partition("=")
        if not sep:
            raise EsmcError(f"--keywords takes 'CRITERION=word,word,...', not {spec!r}")
        if name.strip() not in by_text:
            raise EsmcError(f"--keywords names a criterion that was not given: {name.strip()}")
        i = by_text[name.strip()]
        criteria[i] = dataclasses.replace(criteria[i], keywords=tuple(parse_keywords(words)))
    return criteria


def _export_result(photos, per_criterion, out: Path, mode: str, dry_run: bool):
    from esmc_desktop.photos.export import export, sources

    return export(sources(photos), per_criterion, out, mode=mode, dry_run=dry_run)


def cmd_cluster(args: argparse.Namespace) -> int:
    """Cluster a photo folder by each criterion and write one folder tree per criterion."""
    from esmc_desktop.pipeline import ClusterJob
    from esmc_desktop.saved_result import save_result

    checks.photo_folder(args.photos)
    checks.output_folder(args.out)
    criteria = _criteria(args)
    lm, mmproj, gpu_layers = _resolve_model(args)
    job = ClusterJob(args.photos, criteria, lm, mmproj, cache_dir=args.cache, settings=_settings(args, gpu_layers),
                     progress=_tqdm_progress(args.quiet or args.json))
    result = job.run()
    placements = _export_result(result.photos, result.assignments(), args.out, args.mode, args.dry_run)
    if not args.dry_run:
        save_result(result, args.out, lm, mmproj)
    summary = {
        "photos": len(result.photos), "out": str(args.out), "mode": args.mode, "dry_run": args.dry_run,
        "model_evaluations": result.images_encoded,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
        "criteria": [{
            "criterion": c.criterion.text, "prompt": c.prompt, "keywords": c.keywords,
            "layer": c.localization.layer, "position": c.localization.position,
            "localization": c.localization.message, "note": c.note, "k": len(c.names),
            "clustering_head_used": c.used_head,
            "clusters": [{"id": k, "name": name, "count": int((c.labels == k).sum()),
                          "explanation": c.explanations[k]} for k, name in enumerate(c.names)],
        } for c in result.criteria],
        "files_placed": len(placements),
    }
    _print_summary(summary, args.json)
    return EXIT_OK


def _print_summary(summary: dict, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for c in summary.get("criteria", []):
        print(f"{c['criterion']}  (prompt {c['prompt']!r}; {c['localization']})")
        if c.get("note"):
            print(f"  note: {c['note']}")
        for cl in c["clusters"]:
            why = ", ".join(cl["explanation"])
            print(f"  {cl['count']:6d}  {cl['name']}" + (f"  [{why}]" if why else ""))
    for s in summary["skipped"]:
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    verb = "would place" if summary["dry_run"] else "placed"
    print(f"{summary['photos']} photos, {len(summary['skipped'])} files skipped; {verb} {summary['files_placed']} "
          f"files under {summary['out']} ({summary['mode']})")


def cmd_assign(args: argparse.Namespace) -> int:
    """Sort new photos into an existing result with its saved ONNX heads."""
    from esmc_desktop.pipeline import assign_new_photos
    from esmc_desktop.saved_result import load_result

    checks.photo_folder(args.photos)
    saved = load_result(args.result)
    if args.model is None and args.mmproj is None:
        args.model, args.mmproj = str(saved.lm), saved.mmproj
    lm, mmproj, gpu_layers = _resolve_model(args)
    done = assign_new_photos(args.photos, saved, lm, mmproj, settings=_settings(args, gpu_layers),
                             progress=_tqdm_progress(args.quiet or args.json))
    placements = _export_result(done.photos, done.per_criterion, args.result, args.mode, args.dry_run)
    summary = {"photos": len(done.photos), "out": str(args.result), "mode": args.mode, "dry_run": args.dry_run,
               "model_evaluations": done.images_encoded, "files_placed": len(placements),
               "skipped": [{"path": str(s.path), "reason": s.reason} for s in done.skipped]}
    _print_summary(summary, args.json)
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    """Put back every photo a move took away."""
    from esmc_desktop.photos.export import undo_move

    restored = undo_move(args.out)
    print(f"restored {restored} photos to where they were; the moved copies were removed")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop window (needs the gui extra: pip install -e '.[gui]')."""
    try:
        from esmc_desktop.gui.app import run_gui
    except ImportError as e:
        raise EsmcError(f"the window needs PySide6: pip install -e '.[gui]' ({e})") from e
    lm, mmproj = _model_files(args)
    return run_gui(lm, mmproj, _settings(args, 0), cache_dir=args.cache, remembered_model=args.model is None,
                   gpu_layers=args.gpu_layers)


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate sample photos, cluster them by colour, shape and background with the demo model, export, score."""
    from esmc_desktop.demo.showcase import run_demo

    if args.photos < 10:
        raise EsmcError("--photos must be at least 10")
    checks.output_folder(args.out)
    lm, mmproj, gpu_layers = _resolve_model(args)
    report = run_demo(args.out, lm, mmproj, n_photos=args.photos, seed=args.seed,
                      settings=_settings(args, gpu_layers), progress=_tqdm_progress(args.quiet))
    for c in report.result.criteria:
        m = report.metrics[c.criterion.text]
        print(f"{c.criterion.text}: NMI {m['nmi']:.3f}  RI {m['ri']:.3f}  ARI {m['ari']:.3f}  ACC {m['acc']:.3f}"
              f"   ({c.localization.message})")
        for k, name in enumerate(c.names):
            print(f"  {int((c.labels == k).sum()):5d}  {name}" + (f"  [{', '.join(c.explanations[k])}]"
                                                              if c.explanations[k] else ""))
    print("independence (NMI of one criterion's clusters against another's labels; low is good):")
    for (a, b), v in report.cross_nmi.items():
        print(f"  {a} vs {b}: {v:.3f}")
    print(f"photos: {report.photos_dir}\nsorted: {report.sorted_dir}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Compare ESMC with its ablations and the papers' baselines on a labelled dataset
    (DATASET/<criterion>/<label>/<image>). Each criterion folder's phrase comes from --criterion FOLDER=PHRASE,
    else DATASET/criteria.toml ([criteria] color = "color of the flower"), else the folder name."""
    from esmc_desktop.bench_dataset import load_dataset, parse_mapping
    from esmc_desktop.bench_report import chart, csv_text, markdown
    from esmc_desktop.benchmark import BenchConfig, run_benchmark

    config = BenchConfig(seeds=args.seeds, alpha=args.alpha, readout=args.readout, optimizer=args.optimizer,
                         localization=args.localization, answers=args.answers, answer_tokens=args.answer_tokens,
                         phrases=parse_mapping(args.criterion))
    config.check()
    checks.photo_folder(args.dataset)
    checks.output_folder(args.out)
    dataset = load_dataset(args.dataset, config.phrases)
    lm, mmproj, gpu_layers = _resolve_model(args)
    report = run_benchmark(dataset, lm, mmproj, config=config, cache_dir=args.cache,
                           settings=_settings(args, gpu_layers), progress=_tqdm_progress(args.quiet))
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(report)
    (args.out / "bench.md").write_text(table, encoding="utf-8")
    (args.out / "bench.csv").write_text(csv_text(report.rows), encoding="utf-8")
    chart(report.rows, args.out / "bench.png")
    print(table)
    print(f"written: {args.out / 'bench.md'}, {args.out / 'bench.csv'}, {args.out / 'bench.png'}")
    return EXIT_OK


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that export: cluster and assign."""
    from esmc_desktop.photos.export import MODES

    p.add_argument("--mode", choices=MODES, default="copy",
                   help="copy (default), hardlink, symlink, or move (undo with `esmc-desktop undo OUT`)")
    p.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_job_options(p)


def _add_job_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that runs a ClusterJob (read by _settings and _tqdm_progress)."""
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--cache", type=Path, help="folder for the feature cache (default: the user cache folder)")
    p.add_argument("--samples", type=int, default=10, help="photos sampled to localize each criterion")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and clustering")


def _gpu_layers(text: str) -> GpuLayers:
    """--gpu-layers as a GpuLayers; a wrong value is a usage error with the setting's own sentence."""
    try:
        return GpuLayers.parse(text)
    except EsmcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a registered model name (see `models list`), or the LM GGUF path with --mmproj "
                                   "(default: the first registered model, the demo model when shipped)")
    p.add_argument("--mmproj", type=Path, help="vision projector GGUF (mmproj) that goes with --model")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--gpu-layers", type=_gpu_layers, default=None,
                   help="'auto' (offload what fits in free GPU memory; CPU when no GPU build) or a number")
    p.add_argument("--n-ctx", type=int, default=2048, help="context size in tokens")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esmc-desktop",
        description="Sort photos into clusters by criteria you type, offline, with LLaVA through llama.cpp.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="show what the model 'thinks' at every layer and prompt token",
                       description=cmd_inspect.__doc__)
    _add_model_options(p)
    p.add_argument("--image", type=Path, required=True, help="a photo")
    p.add_argument("--prompt", action="append", required=True,
                   help='text after the image, e.g. "The color of the car is" (repeatable)')
    p.add_argument("--top", type=int, default=1, help="tokens shown per layer and position (1 = a grid)")
    p.add_argument("--npz", type=Path, help="also save the hidden states to this .npz file")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("cluster", help="sort a photo folder into cluster folders, one tree per criterion",
                       description=cmd_cluster.__doc__ + " Example: esmc-desktop cluster ~/Pictures/cars "
                       "--criterion 'color of the car' --criterion 'brand of the car:4' --out ~/Sorted")
    p.add_argument("photos", type=Path, help="folder of photos (searched recursively)")
    p.add_argument("--criterion", action="append", required=True,
                   help="what to sort by, e.g. 'color of the car'; add ':K' for K clusters (default: auto)")
    p.add_argument("--keywords", action="append",
                   help="'CRITERION=red,green,blue': the words the criterion's answers start with "
                        "(default: asked of the model)")
    p.add_argument("--out", type=Path, required=True, help="folder the cluster folders go into")
    _add_run_options(p)
    _add_model_options(p)
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("assign", help="sort new photos into an existing result (its saved heads)",
                       description=cmd_assign.__doc__)
    p.add_argument("photos", type=Path, help="folder of new photos")
    p.add_argument("--result", type=Path, required=True, help="the --out folder of an earlier `cluster` run")
    _add_run_options(p)
    _add_model_options(p)
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("gui", help="open the desktop window", description=cmd_gui.__doc__)
    _add_job_options(p)
    _add_model_options(p)
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("demo", help="generate sample photos and sort them with the shipped demo model",
                       description=cmd_demo.__doc__)
    p.add_argument("--out", type=Path, default=Path("esmc-demo"), help="folder for the photos and sorted folders")
    p.add_argument("--photos", type=int, default=120, help="how many sample photos to generate")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--samples", type=int, default=10, help="photos sampled to localize each criterion")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated photos")
    _add_model_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="compare ESMC with the papers' baselines on a labelled dataset",
                       description=cmd_bench.__doc__)
    p.add_argument("dataset", type=Path, help="DATASET/<criterion>/<label>/<image files>")
    p.add_argument("--out", type=Path, default=Path("bench-report"), help="folder for bench.md, .csv and .png")
    p.add_argument("--criterion", action="append", metavar="FOLDER=PHRASE",
                   help="the phrase of a criterion folder, e.g. color='color of the flower' (repeatable; default: "
                        "the dataset's criteria.toml, else the folder name)")
    p.add_argument("--seeds", type=int, default=10, help="seeds of every clustering: mean and standard deviation")
    p.add_argument("--alpha", type=float, default=None,
                   help="the head's pseudo-label fraction (default: criteria.toml's alpha, else 0.3)")
    p.add_argument("--readout", choices=("argmax", "kmeans"), default="argmax",
                   help="the head's labels: MLP argmax (Algorithm 2) or k-means on its outputs (released script)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="the head's optimizer: momentum SGD (ours) or Adam, lr 1e-4 (released script)")
    p.add_argument("--localization", choices=("product", "paper"), default="product",
                   help="the esmc row's target: the product's rule or the paper's Algorithm 1")
    p.add_argument("--answers", type=int, default=6, help="sampled answers per photo for the output-text baselines")
    p.add_argument("--answer-tokens", type=int, default=80, help="at most this many tokens per sampled answer")
    _add_job_options(p)
    _add_model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("undo", help="reverse a --mode move export", description=cmd_undo.__doc__)
    p.add_argument("out", type=Path, help="the --out folder of the move")
    p.set_defaults(func=cmd_undo)

    models = sub.add_parser("models", help="check, repair and remember model files",
                            description="Model files stay where you keep them; this checks and remembers them.")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = msub.add_parser("check", help="say what two GGUF files are and whether they work together")
    p.add_argument("lm", type=Path, help="language model GGUF")
    p.add_argument("mmproj", type=Path, help="vision projector GGUF (mmproj)")
    p.set_defaults(func=cmd_models_check)
    p = msub.add_parser("repair-mmproj", help="write a corrected copy of a legacy LLaVA-1.5 mmproj (IN is untouched)")
    p.add_argument("src", type=Path, metavar="IN")
    p.add_argument("dst", type=Path, metavar="OUT")
    p.set_defaults(func=cmd_models_repair)
    p = msub.add_parser("list", help="the remembered models")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("add", help="remember a model pair under a name (files are checked)")
    p.add_argument("name")
    p.add_argument("lm", type=Path)
    p.add_argument("mmproj", type=Path)
    p.set_defaults(func=cmd_models_add)
    p = msub.add_parser("remove", help="forget a model pair (the files are not deleted)")
    p.add_argument("name")
    p.set_defaults(func=cmd_models_remove)
    return parser


class _Notes(logging.Handler):
    """The app's warnings (a damaged cache moved aside, ...) as one `note:` line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"note: {record.getMessage()}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    notes = _Notes(logging.WARNING)
    logger = logging.getLogger("esmc_desktop")
    logger.addHandler(notes)
    try:
        return args.func(args)
    except EsmcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:  # the disk, not the program: full, read-only, a file taken away meanwhile
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; check the disk and the folder's permissions, then run again",
              file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logger.removeHandler(notes)


if __name__ == "__main__":
    raise SystemExit(main())
