"""The `esmc-desktop` command line.

Exit codes scripts can rely on: 0 success, 1 a problem with the input (one
`error: ...` line on stderr saying what to do), 2 a usage error, 130 interrupted.
Anything else that escapes is a bug and shows its traceback.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_at_start(_signum, _frame) -> None:
    """Ctrl+C while the program starts (imports, before main's handlers): nothing to undo yet; one line, 130."""
    sys.stderr.write("interrupted\n")
    os._exit(130)


if __name__ == "__main__" or os.path.basename(sys.argv[0]).startswith("esmc-desktop"):
    signal.signal(signal.SIGINT, _interrupted_at_start)

import argparse  # noqa: E402 (after the start-up handler, so a Ctrl+C during these imports is one line too)
import logging  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

from esmc_desktop import __version__
from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.method.localization import DEFAULT_SAMPLES, RULE_VERSIONS, SPANS
from esmc_desktop.mllm.prompts import TEMPLATES
from esmc_desktop.mllm.weight_layout import AUTO, CHOICES as CPU_WEIGHTS

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _cell(token: str, prob: float, width: int) -> str:
    text = f"{token!r}"[1:-1] + f" {prob:.2f}"
    return text[:width].ljust(width)


def _feedback(quiet: bool):
    """Progress bars (unless quiet) and notes on stderr, for a use case of the application layer."""
    from esmc_desktop.app.feedback import Feedback

    return Feedback(progress=None if quiet else _tqdm_progress(), note=lambda s: print(s, file=sys.stderr))


def _model(args: argparse.Namespace):
    from esmc_desktop.app.model import find_model

    return find_model(args.model, args.mmproj)


def _say_model(lm: Path, photos: Path) -> str:
    """Name the model on stderr (returned too), and warn in one line when the demo model meets photos it cannot see."""
    from esmc_desktop.demo.notice import demo_notice, model_label

    label = model_label(lm)
    print(f"model: {label}", file=sys.stderr)
    notice = demo_notice(lm, photos)
    if notice:
        print(f"note: {notice}", file=sys.stderr)
    return label


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the logit lens at every layer and prompt token (ESMC's Figure 3 as text)."""
    from esmc_desktop.app.inspect import inspect_photo, save_states

    if args.npz and len(args.prompt) != 1:
        raise EsmcError("--npz saves one prompt's hidden states: give exactly one --prompt")
    found = inspect_photo(args.image, args.prompt, _model(args), top=args.top, settings=_settings(args),
                          gpu=args.gpu_layers or GpuLayers(), feedback=_feedback(True))
    for table in found.tables:
        _print_lens(table, args.top)
    if args.npz:
        save_states(found, args.npz)
        print(f"hidden states saved to {args.npz}")
    return EXIT_OK


def _print_lens(table, top: int) -> None:
    print(f"prompt: {table.prompt!r}  ({len(table.tokens)} text tokens after {table.n_image_tokens} image tokens)")
    if top == 1:
        width = 14
        header = "layer | " + " | ".join(f"{t!r}"[1:-1][:width].ljust(width) for t in table.tokens)
        print(header)
        print("-" * len(header))
        for layer, row in zip(table.layers, table.top):
            print(f"{layer:5d} | " + " | ".join(_cell(*cell[0], width) for cell in row))
    else:
        for layer, row in zip(table.layers, table.top):
            for t, (tok, cell) in enumerate(zip(table.tokens, row)):
                tops = ", ".join(f"{text!r} {p:.2f}" for text, p in cell)
                print(f"layer {layer:3d} token {t:2d} {tok!r:>12}: {tops}")
    print()


def cmd_models_check(args: argparse.Namespace) -> int:
    """Describe both files and check they form a working pair."""
    from esmc_desktop.app.models import check_files

    report = check_files(args.lm, args.mmproj)
    for lines in report.descriptions:
        print("\n".join(lines))
    if report.problems:
        for problem in report.problems:
            print(f"problem: {problem}")
        return EXIT_INPUT
    print("ok: these files work together")
    return EXIT_OK


def cmd_models_repair(args: argparse.Namespace) -> int:
    """Write a repaired copy of a legacy mmproj."""
    from esmc_desktop.app.models import repair

    blocks = repair(args.src, args.dst)
    print(f"wrote {args.dst}: {blocks} vision blocks declared, the last one a placeholder llama.cpp never runs")
    return EXIT_OK


def cmd_models_list(args: argparse.Namespace) -> int:
    from esmc_desktop.app.models import list_models
    from esmc_desktop.mllm.registry import ModelRegistry

    entries, default = list_models(), ModelRegistry().default_name()
    if not entries:
        print("no models yet: `esmc-desktop models pull` gets LLaVA-1.5-7b")
    for e in entries:
        print(f"{e.name}{' (default)' if e.name == default else ''}\t{e.lm}\t{e.mmproj}\t{e.fingerprint}")
    return EXIT_OK


def cmd_models_add(args: argparse.Namespace) -> int:
    from esmc_desktop.app.models import add_model

    entry = add_model(args.name, args.lm, args.mmproj)
    print(f"added {entry.name} (fingerprint {entry.fingerprint})")
    return EXIT_OK


def cmd_models_remove(args: argparse.Namespace) -> int:
    from esmc_desktop.app.models import remove_model

    remove_model(args.name)
    print(f"removed {args.name} (its files are untouched)")
    return EXIT_OK


def cmd_models_default(args: argparse.Namespace) -> int:
    from esmc_desktop.mllm.registry import ModelRegistry

    ModelRegistry().set_default(args.name)
    print(f"{args.name} is now the default model")
    return EXIT_OK


def cmd_models_pull(args: argparse.Namespace) -> int:
    """Download a known LLaVA-1.5 GGUF pair (or take it from --from), check it, repair it, make it the default."""
    from tqdm import tqdm

    from esmc_desktop.mllm.pull import plan_pull, run_pull

    plan = plan_pull(args.name, args.quant, args.source)
    print("\n".join(plan.describe()))
    bars: dict[str, tqdm] = {}

    def show(stage: str, name: str, done: int, total: int) -> None:
        if stage != "download":
            print(f"{stage} {name}", file=sys.stderr)
            return
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, initial=done, desc=name, unit="B", unit_scale=True,
                                    unit_divisor=1024, file=sys.stderr, disable=args.quiet)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    result = run_pull(plan, progress=show)
    if result.repaired:
        print(f"the projector was a legacy LLaVA-1.5 mmproj; using the repaired copy {result.entry.mmproj} "
              f"(the download is untouched)")
    print(f"{result.entry.name} is registered and is now the default model. Try: "
          f"esmc-desktop cluster ~/Pictures --criterion \"the place\" --out ~/Sorted")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """Say what this machine runs: the llama.cpp build, its devices, the models and whether they fit."""
    from esmc_desktop.mllm.doctor import report

    print("\n".join(report()))
    return EXIT_OK


def _tqdm_progress():
    """A progress callback drawing a tqdm bar per stage on stderr (photos/s and time left)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def show(p) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            bar = bars[p.stage] = tqdm(total=p.total, desc=p.stage, unit="photo", file=_BarStream(), leave=True)
        bar.n = p.done
        bar.refresh()
        if p.done >= p.total:
            bar.close()

    return show


class _BarStream:
    """stderr for the progress bars; remembers whether a bar left its line open (a bar ends it only when done)."""

    open_line = False

    def write(self, text: str) -> int:
        if text:
            _BarStream.open_line = not text.endswith("\n")
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def _close_bars() -> None:
    """End every progress bar's line now (one cut short by Ctrl+C too), so the next line stands alone and no bar
    is drawn again after it when the program exits."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()
    if _BarStream.open_line:
        sys.stderr.write("\n")
        _BarStream.open_line = False


def _settings(args: argparse.Namespace):
    """The run's settings from the options; the GPU layers are planned by the use case (args.gpu_layers)."""
    from esmc_desktop.app.sort import RunSettings

    samples, seed = getattr(args, "samples", 10), getattr(args, "seed", 0)
    if samples < 1:
        raise EsmcError("--samples must be at least 1")
    method = {"template": getattr(args, "template", None), "localization": getattr(args, "localization", None),
              "span": getattr(args, "search", None)}
    return RunSettings(n_samples=samples, seed=seed, n_ctx=args.n_ctx, threads=args.threads,
                       cpu_weights=args.cpu_weights, **{k: v for k, v in method.items() if v is not None})


def _criteria(args: argparse.Namespace):
    import dataclasses

    from esmc_desktop.app.keywords import parse_keywords
    from esmc_desktop.app.sort import Criterion

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


def cmd_cluster(args: argparse.Namespace) -> int:
    """Cluster a photo folder by each criterion and write one folder tree per criterion."""
    from esmc_desktop.app import checks
    from esmc_desktop.app.export import claim_output, export_result
    from esmc_desktop.app.sort import sort_photos

    checks.photo_folder(args.photos)
    checks.output_folder(args.out)
    criteria = _criteria(args)
    model = _model(args)
    label = _say_model(model.lm, args.photos)
    feedback = _feedback(args.quiet or args.json)
    with claim_output(args.out, args.dry_run):
        result = sort_photos(args.photos, criteria, model, settings=_settings(args),
                             gpu=args.gpu_layers or GpuLayers(), cache_dir=args.cache, feedback=feedback,
                             exclude=args.exclude or (), out=args.out)
        written = export_result(result, args.out, mode=args.mode, dry_run=args.dry_run, feedback=feedback)
    summary = {
        "model": label, "photos": len(result.photos), "out": str(args.out), "mode": args.mode, "dry_run": args.dry_run,
        "model_evaluations": result.images_encoded,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
        "criteria": [{
            "criterion": c.text, "prompt": c.prompt, "keywords": c.keywords,
            "layer": c.layer, "position": c.position, "localization": c.where_read,
            "localization_rule": c.computed.localization.rule, "template": result.template, "note": c.note,
            "k": len(c.names), "clustering_head_used": c.computed.used_head,
            "clusters": [{"id": k, "name": name, "count": len(c.members(k)), "explanation": c.explanations[k]}
                         for k, name in enumerate(c.names)],
        } for c in result.criteria],
        "files_placed": written.files,
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
    if summary["mode"].startswith("tags"):
        verb = "would write" if summary["dry_run"] else "wrote"
        print(f"{summary['photos']} photos, {len(summary['skipped'])} files skipped; {verb} keywords for "
              f"{summary['files_placed']} (file, criterion) pairs ({summary['mode']}); "
              f"`esmc-desktop undo {summary['out']}` takes them back")
        return
    verb = "would place" if summary["dry_run"] else "placed"
    by = f" sorted by model {summary['model']}" if summary.get("model") else ""
    print(f"{summary['photos']} photos{by}, {len(summary['skipped'])} files skipped; {verb} {summary['files_placed']} "
          f"files under {summary['out']} ({summary['mode']})")


def cmd_assign(args: argparse.Namespace) -> int:
    """Sort new photos into an existing result with its saved ONNX heads."""
    from esmc_desktop.app.assign import assign_photos

    model = _model(args) if args.model is not None or args.mmproj is not None else None
    done = assign_photos(args.photos, args.result, model, settings=_settings(args), gpu=args.gpu_layers or GpuLayers(),
                         mode=args.mode, dry_run=args.dry_run, feedback=_feedback(args.quiet or args.json),
                         cache_dir=args.cache, exclude=args.exclude or ())
    summary = {"photos": len(done.photos), "out": str(args.result), "mode": args.mode, "dry_run": args.dry_run,
               "model_evaluations": done.images_encoded, "files_placed": done.export.files,
               "skipped": [{"path": str(s.path), "reason": s.reason} for s in done.skipped]}
    _print_summary(summary, args.json)
    return EXIT_OK


def cmd_learn(args: argparse.Namespace) -> int:
    """Learn from the photos you moved between cluster folders (and folders you renamed); re-sort the rest."""
    import json

    from esmc_desktop.app.export import claim_output
    from esmc_desktop.app.learn import learn_export

    with claim_output(args.out):
        report = learn_export(args.out, cache_dir=args.cache)
    if args.json:
        print(json.dumps({"out": str(report.out), "move_export": report.move_export,
                          "ignored": [str(p) for p in report.ignored],
                          "criteria": [{"criterion": c.criterion, "corrections": c.corrections,
                                        "retrained": c.retrained, "renamed": c.renamed, "added": c.added,
                                        "removed": c.removed,
                                        "moved": [{"file": f, "from": a, "to": b} for f, a, b in c.moved]}
                                       for c in report.criteria]}, indent=2))
        return EXIT_OK
    for c in report.criteria:
        print(f"{c.criterion}: {c.corrections} photo(s) you moved" + (", head retrained" if c.retrained else ""))
        for old, new in c.renamed:
            print(f"  renamed {old} -> {new}")
        for name in c.added:
            print(f"  new cluster {name}")
        for name in c.removed:
            print(f"  removed empty cluster {name}")
        for (a, b), n in sorted(Counter((a, b) for _, a, b in c.moved).items()):
            print(f"  {n:5d} re-sorted {a} -> {b}")
    for path in report.ignored:
        print(f"left alone (not a photo of this export): {path}", file=sys.stderr)
    moved = sum(len(c.moved) for c in report.criteria)
    print(f"{moved} photo(s) you did not touch were re-sorted under {report.out}; the ones you placed stayed"
          + ("; `esmc-desktop undo` still puts every original back" if report.move_export else ""))
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    """Put back every photo a move took away, and take back every keyword a tag export wrote."""
    from esmc_desktop.app.undo import undo_export

    restored, untagged = undo_export(args.out)
    if restored:
        print(f"restored {restored} photos to where they were; the moved copies were removed")
    if untagged:
        print(f"took the keywords of this export back out of {untagged} files; everything else in them is as it was")
    if not restored and not untagged:
        print("nothing needed changing back")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the desktop window (needs the gui extra: pip install -e '.[gui]')."""
    try:
        from esmc_desktop.gui.app import run_gui
    except ImportError as e:
        raise EsmcError(f"the window needs PySide6: pip install -e '.[gui]' ({e})") from e
    model = _model(args)
    return run_gui(model.lm, model.mmproj, _settings(args), cache_dir=args.cache,
                   remembered_model=args.model is None, gpu_layers=args.gpu_layers, template=args.template)


def _planned(args: argparse.Namespace, model):
    """Settings with the GPU planned, checked first, saying where it runs: for demo and bench."""
    from esmc_desktop.app.model import check_model, compute_settings

    check_model(model, n_ctx=args.n_ctx)
    settings, where = compute_settings(model, _settings(args), args.gpu_layers or GpuLayers(),
                                       note=lambda sentence: print(sentence, file=sys.stderr))
    print(where, file=sys.stderr)
    return settings


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate sample photos, cluster them by colour, shape and background with the demo model, export, score."""
    from esmc_desktop.app import checks
    from esmc_desktop.demo.notice import model_label
    from esmc_desktop.demo.showcase import run_demo

    if args.photos < 10:
        raise EsmcError("--photos must be at least 10")
    checks.output_folder(args.out)
    model = _model(args)
    report = run_demo(args.out, model.lm, model.mmproj, n_photos=args.photos, seed=args.seed,
                      settings=_planned(args, model), progress=None if args.quiet else _tqdm_progress())
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
    print(f"model: {model_label(model.lm)}\nphotos: {report.photos_dir}\nsorted: {report.sorted_dir}")
    print(f"next: move a photo to another cluster folder, then `esmc-desktop learn {report.sorted_dir} --cache "
          f"{report.cache_dir}`; `esmc-desktop assign NEW_PHOTOS --result {report.sorted_dir}` sorts more photos")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Compare ESMC with its ablations and the papers' baselines on a labelled dataset
    (DATASET/<criterion>/<label>/<image>). Each criterion folder's phrase comes from --criterion FOLDER=PHRASE,
    else DATASET/criteria.toml ([criteria] color = "color of the flower"), else the folder name."""
    from esmc_desktop.app import checks
    from esmc_desktop.bench_dataset import load_dataset, parse_mapping
    from esmc_desktop.bench_report import chart, csv_text, markdown
    from esmc_desktop.benchmark import BenchConfig, run_benchmark

    config = BenchConfig(seeds=args.seeds, alpha=args.alpha, readout=args.readout, optimizer=args.optimizer,
                         answers=args.answers, answer_tokens=args.answer_tokens,
                         phrases=parse_mapping(args.criterion))
    config.check()
    checks.photo_folder(args.dataset)
    checks.output_folder(args.out)
    dataset = load_dataset(args.dataset, config.phrases)
    model = _model(args)
    report = run_benchmark(dataset, model.lm, model.mmproj, config=config, cache_dir=args.cache,
                           settings=_planned(args, model), progress=None if args.quiet else _tqdm_progress())
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
    from esmc_desktop.app.export import MODES

    p.add_argument("--mode", choices=MODES, default="copy",
                   help="copy (default), hardlink, symlink, move; tags: keywords in an XMP sidecar next to each "
                        "photo (IMG_1.JPG.xmp), the photos untouched; tags-embedded: keywords inside JPEG files "
                        "(sidecars for other formats). Undo move and tags with `esmc-desktop undo OUT`")
    p.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="leave out files and folders whose name or path under the photo folder matches, e.g. "
                        "'Private' or '*.gif' (repeatable); earlier exports and --out are always left out")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_job_options(p)


def _add_job_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that sorts photos (read by _settings and _feedback)."""
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--cache", type=Path, help="folder for the feature cache (default: the user cache folder)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="photos sampled to localize each criterion")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and clustering")
    _add_method_options(p)


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
    p.add_argument("--n-ctx", type=int, default=None,
                   help="context size in tokens (default: what one photo and its prompts need)")
    p.add_argument("--cpu-weights", choices=CPU_WEIGHTS, default=AUTO,
                   help="how the weights sit in memory on the CPU: auto (default: the layout measured faster on "
                        "this machine, once per model), mapped (the memory-mapped file) or repacked (llama.cpp's "
                        "CPU layouts)")
    p.add_argument("--template", choices=TEMPLATES, default=None,
                   help="chat format: llava-v1 (default; LLaVA's system prompt, as ESMC's code) or llava-hf "
                        "(no system prompt); `assign` always uses the result's own")


def _add_method_options(p: argparse.ArgumentParser) -> None:
    """How each criterion is localized (read by _settings)."""
    p.add_argument("--localization", choices=RULE_VERSIONS, default=None,
                   help="separating (default: the earliest layer among the places that read the most sample photos "
                        "and tell them apart) or paper (ESMC's Algorithm 1 as written)")
    p.add_argument("--search", choices=SPANS, default=None,
                   help="where to look: prompt (default: the criterion's own tokens, as the paper) or template "
                        "(also the chat template's tokens after the image)")


def build_parser() -> argparse.ArgumentParser:
    from esmc_desktop.mllm.catalog import CATALOG, DEFAULT_MODEL, DEFAULT_QUANT

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
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="photos sampled to localize each criterion")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated photos")
    _add_method_options(p)
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
    p.add_argument("--answers", type=int, default=6, help="sampled answers per photo for the output-text baselines")
    p.add_argument("--answer-tokens", type=int, default=80, help="at most this many tokens per sampled answer")
    _add_job_options(p)
    _add_model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("learn", help="learn from photos you moved between cluster folders; re-sort the rest",
                       description=cmd_learn.__doc__ + " Every photo found in another cluster folder than it was "
                       "exported to counts as a correction; a renamed folder renames its cluster, a new folder "
                       "makes a new cluster. Photos you placed are never moved.")
    p.add_argument("out", type=Path, help="the --out folder of an earlier `cluster` (or window export)")
    p.add_argument("--cache", type=Path, help="the feature cache the export was made with (default: the user "
                                              "cache folder)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_learn)

    p = sub.add_parser("undo", help="reverse a --mode move or tags export", description=cmd_undo.__doc__)
    p.add_argument("out", type=Path, help="the --out folder of the export")
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
    p = msub.add_parser("default", help="use this model when none is named")
    p.add_argument("name")
    p.set_defaults(func=cmd_models_default)
    p = msub.add_parser("pull", help="download a known LLaVA-1.5 GGUF pair, check and repair it, make it the default",
                        description=cmd_models_pull.__doc__)
    p.add_argument("name", nargs="?", default=DEFAULT_MODEL,
                   help=f"{' or '.join(m.name for m in CATALOG)} (default {DEFAULT_MODEL})")
    p.add_argument("--quant", default=DEFAULT_QUANT,
                   help=f"quantization of the language model (default {DEFAULT_QUANT}); e.g. Q5_K_M, Q8_0")
    p.add_argument("--from", dest="source", metavar="URL|DIR",
                   help="a Hugging Face mirror (URL) or a folder that already holds the files")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_models_pull)

    p = sub.add_parser("doctor", help="the llama.cpp build, devices, free memory, models that fit, GPU install command",
                       description=cmd_doctor.__doc__)
    p.set_defaults(func=cmd_doctor)
    return parser


class _Notes(logging.Handler):
    """The app's warnings (a damaged cache moved aside, ...) as one `note:` line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"note: {record.getMessage()}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from esmc_desktop.mllm import interrupts

    as_program = signal.getsignal(signal.SIGINT) is _interrupted_at_start
    if as_program:
        signal.signal(signal.SIGINT, interrupts.on_sigint)  # from here on Ctrl+C unwinds (cleans up) first
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
    except KeyboardInterrupt as exc:  # one line; an interrupted export says what it left and how to undo it
        _close_bars()
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        if not (as_program and interrupts.received()):
            raise
        _close_bars()  # a library cut short by Ctrl+C in its own C code raised its own error
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logger.removeHandler(notes)
        if as_program:  # the outcome is said; a Ctrl+C while the program exits changes nothing
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    raise SystemExit(main())
