"""The commands: each reads its parsed options, calls the application layer, and prints the result.

Light to import (the parser names these functions): every heavy module (numpy, llama.cpp, onnx, Qt)
is imported inside the command that needs it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from esmc_desktop.cli.output import notes, plural, print_json, print_sort_summary, progress_bars, say, were
from esmc_desktop.errors import EsmcError

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _cell(token: str, prob: float, width: int) -> str:
    text = f"{token!r}"[1:-1] + f" {prob:.2f}"
    return text[:width].ljust(width)


def _feedback(quiet: bool, bars: bool = True):
    """Progress bars and notes on stderr for a use case of the application layer: neither when quiet,
    no bars without `bars` (--json: a script reads the result)."""
    from esmc_desktop.app.feedback import Feedback

    return Feedback(progress=progress_bars() if bars and not quiet else None, note=notes(quiet))


def _compute(args: argparse.Namespace):
    """What the user asked of the machine (--gpu-layers, auto when not given; --threads, --cpu-weights,
    --n-ctx): each use case plans it for its model."""
    from esmc_desktop.app.sort import ComputeRequest
    from esmc_desktop.app.options import GpuLayers

    return ComputeRequest(gpu_layers=args.gpu_layers or GpuLayers(), threads=args.threads,
                          cpu_weights=args.cpu_weights, n_ctx=args.n_ctx)


def _model(args: argparse.Namespace):
    from esmc_desktop.app.model import find_model

    return find_model(args.model, args.mmproj)


def _say_model(lm: Path, photos: Path, quiet: bool) -> tuple[str, str | None]:
    """The model's label and, when the demo model meets photos it cannot see, the warning; both said on
    stderr unless quiet (the JSON summary carries them either way)."""
    from esmc_desktop.app.demo import demo_notice, model_label

    label, notice = model_label(lm), demo_notice(lm, photos)
    if not quiet:
        say(f"model: {label}")
        if notice:
            say(f"note: {notice}")
    return label, notice


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the logit lens at every layer and prompt token (ESMC's Figure 3 as text)."""
    from esmc_desktop.app.inspect import inspect_photo, save_states

    if args.npz and len(args.prompt) != 1:
        raise EsmcError("--npz saves one prompt's hidden states: give exactly one --prompt")
    found = inspect_photo(args.image, args.prompt, _model(args), top=args.top, template=_settings(args).template,
                          compute=_compute(args), feedback=_feedback(args.quiet, bars=False))
    if args.npz:
        save_states(found, args.npz)
    if args.json:
        print_json({"image": str(args.image), "npz": str(args.npz) if args.npz else None, "prompts": [
            {"prompt": t.prompt, "image_tokens": t.n_image_tokens, "tokens": t.tokens, "layers": [
                {"layer": layer, "top": [[{"token": text, "p": round(p, 6)} for text, p in cell] for cell in row]}
                for layer, row in zip(t.layers, t.top)]} for t in found.tables]})
        return EXIT_OK
    for table in found.tables:
        _print_lens(table, args.top)
    if args.npz:
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
    if args.json:
        print_json({"lm": str(args.lm), "mmproj": str(args.mmproj), "descriptions": report.descriptions,
                    "problems": report.problems, "ok": not report.problems})
        return EXIT_INPUT if report.problems else EXIT_OK
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
    print(f"wrote {args.dst}: {plural(blocks, 'vision block')} declared, the last one a placeholder llama.cpp "
          "never runs")
    return EXIT_OK


def cmd_models_list(args: argparse.Namespace) -> int:
    """The remembered model pairs; the default one is marked."""
    from esmc_desktop.app.models import default_model, list_models

    entries, default = list_models(), default_model()
    if args.json:
        print_json({"models": [{"name": e.name, "default": e.name == default, "lm": str(e.lm),
                                "mmproj": str(e.mmproj), "fingerprint": e.fingerprint} for e in entries]})
        return EXIT_OK
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
    from esmc_desktop.app.models import set_default_model

    set_default_model(args.name)
    print(f"{args.name} is now the default model")
    return EXIT_OK


def cmd_models_pull(args: argparse.Namespace) -> int:
    """Download a known LLaVA-1.5 GGUF pair (or take it from --from), check it, repair it, make it the default."""
    from tqdm import tqdm

    from esmc_desktop.app.pull import plan_pull, run_pull

    plan = plan_pull(args.name, args.quant, args.source)
    if not args.quiet:
        print("\n".join(plan.describe()))
    bars: dict[str, tqdm] = {}

    def show(p) -> None:
        if p.stage != "download":
            if not args.quiet:
                say(f"{p.stage} {p.name}")
            return
        bar = bars.get(p.name)
        if bar is None:
            bar = bars[p.name] = tqdm(total=p.total, initial=p.done, desc=p.name, unit="B", unit_scale=True,
                                      unit_divisor=1024, file=sys.stderr, disable=args.quiet)
        bar.update(p.done - bar.n)
        if p.done >= p.total:
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
    from esmc_desktop.app.doctor import report

    print("\n".join(report()))
    return EXIT_OK


def _settings(args: argparse.Namespace):
    """The method's settings from the options this command has (the machine's are _compute's)."""
    from esmc_desktop.app.sort import MethodSettings

    given = {"n_samples": getattr(args, "samples", None), "seed": getattr(args, "seed", None),
             "template": getattr(args, "template", None), "localization": getattr(args, "localization", None),
             "span": getattr(args, "search", None), "alpha": getattr(args, "alpha", None)}
    if given["n_samples"] is not None and given["n_samples"] < 1:
        raise EsmcError("--samples must be at least 1")
    if given["alpha"] is not None and not 0.0 < given["alpha"] <= 1.0:
        raise EsmcError(f"--alpha must be a share between 0 and 1 (the head learns from that share of each cluster), "
                        f"got {given['alpha']}")
    return MethodSettings(**{k: v for k, v in given.items() if v is not None})


def _criteria(args: argparse.Namespace):
    import dataclasses

    from esmc_desktop.app.keywords import parse_keywords
    from esmc_desktop.app.sort import Criterion

    criteria = [Criterion.parse(c) for c in args.criterion]
    by_text = {c.text: i for i, c in enumerate(criteria)}
    for spec in args.keywords or []:
        i, words = _criterion_spec("--keywords", spec, by_text, "'CRITERION=word,word,...'")
        criteria[i] = dataclasses.replace(criteria[i], keywords=tuple(parse_keywords(words)))
    for spec in getattr(args, "values", None) or []:
        i, values = _criterion_spec("--values", spec, by_text,
                                    "'CRITERION=value,value,...' (a last '+' discovers the rest)")
        named, discover = Criterion.parse_values(values)
        criteria[i] = dataclasses.replace(criteria[i], values=named, discover=discover)
    for spec in getattr(args, "target", None) or []:
        # split at the last '=': a criterion's text may hold one, a place never does; one criterion needs no name
        i, place = _criterion_spec("--target", spec, by_text, "'CRITERION=LAYER:TOKEN' when there are several "
                                   "criteria", last=True, alone=0 if len(criteria) == 1 else None)
        criteria[i] = dataclasses.replace(criteria[i], target=Criterion.parse_target(place))
    return criteria


def _criterion_spec(option: str, spec: str, by_text: dict[str, int], usage: str, *, last: bool = False,
                    alone: int | None = None) -> tuple[int, str]:
    """'CRITERION=REST' of a per-criterion option: (the criterion's index, REST); `alone` when no name is given."""
    name, sep, rest = spec.rpartition("=") if last else spec.partition("=")
    if not sep:
        if alone is not None:
            return alone, spec
        raise EsmcError(f"{option} takes {usage}, not {spec!r}")
    if name.strip() not in by_text:
        raise EsmcError(f"{option} names a criterion that was not given: {name.strip()}")
    return by_text[name.strip()], rest


def cmd_cluster(args: argparse.Namespace) -> int:
    """Cluster a photo folder by each criterion and write one folder tree per criterion."""
    from esmc_desktop.app import checks
    from esmc_desktop.app.export import claim_output, export_result
    from esmc_desktop.app.sort import sort_photos

    checks.photo_folder(args.photos)
    checks.output_folder(args.out)
    criteria = _criteria(args)
    model = _model(args)
    label, notice = _say_model(model.lm, args.photos, args.quiet)
    feedback = _feedback(args.quiet, bars=not args.json)
    with claim_output(args.out, args.dry_run):
        result = sort_photos(args.photos, criteria, model, settings=_settings(args), compute=_compute(args),
                             cache_dir=args.cache, feedback=feedback, exclude=args.exclude or (), out=args.out)
        written = export_result(result, args.out, mode=args.mode, dry_run=args.dry_run, feedback=feedback)
    summary = {
        "model": label, "model_note": notice, "photos": len(result.photos), "out": str(args.out), "mode": args.mode,
        "dry_run": args.dry_run, "model_evaluations": result.images_encoded,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in result.skipped],
        "criteria": [{
            "criterion": c.text, "prompt": c.prompt, "keywords": c.keywords,
            "values": list(c.reading.criterion.values or []) or None, "discover": c.reading.criterion.discover,
            "layer": c.layer, "position": c.position, "localization": c.where_read,
            "localization_rule": c.localization_rule, "template": result.template, "note": c.note,
            "keyword_notes": c.reading.keyword_notes, "k_scores": c.k_scores,
            "k": len(c.names), "clustering_head_used": c.used_head,
            "clusters": [{"id": k, "name": name, "count": len(c.members(k)), "explanation": c.explanations[k]}
                         for k, name in enumerate(c.names)],
        } for c in result.criteria],
        "files_placed": written.files,
        "placed": _placed(written.placements),
    }
    print_sort_summary(summary, args.json, args.quiet)
    return EXIT_OK


def _placed(placements) -> list[dict]:
    """Which file went where, as the manifest says it: one entry per file and criterion."""
    return [{"source": p.source, "criterion": p.criterion, "cluster_id": p.cluster_id, "cluster_name": p.cluster_name,
             "confidence": p.confidence, "destination": p.destination} for p in placements]


def cmd_assign(args: argparse.Namespace) -> int:
    """Sort new photos into an existing result with its saved ONNX heads."""
    from esmc_desktop.app.assign import assign_photos

    model = _model(args) if args.model is not None or args.mmproj is not None else None
    done = assign_photos(args.photos, args.result, model, compute=_compute(args),
                         mode=args.mode, dry_run=args.dry_run, feedback=_feedback(args.quiet, bars=not args.json),
                         cache_dir=args.cache, exclude=args.exclude or ())
    summary = {"photos": len(done.photos), "out": str(args.result), "mode": args.mode, "dry_run": args.dry_run,
               "model_evaluations": done.images_encoded,
               "skipped": [{"path": str(s.path), "reason": s.reason} for s in done.skipped],
               "criteria": [{"criterion": c.criterion,
                             "clusters": [{"id": k, "name": name, "count": count}
                                          for k, (name, count) in enumerate(zip(c.names, c.counts()))]}
                            for c in done.criteria],
               "files_placed": done.export.files, "placed": _placed(done.export.placements)}
    print_sort_summary(summary, args.json, args.quiet)
    return EXIT_OK


def cmd_learn(args: argparse.Namespace) -> int:
    """Learn from the photos you moved between cluster folders (and folders you renamed); re-sort the rest."""
    import json

    from esmc_desktop.app.export import claim_output
    from esmc_desktop.app.learn import learn_export

    with claim_output(args.out):
        report = learn_export(args.out, cache_dir=args.cache, resort="all" if args.resort_all else "doubtful")
    if args.json:
        print(json.dumps({"out": str(report.out), "move_export": report.move_export, "resort": report.resort,
                          "ignored": [str(p) for p in report.ignored],
                          "criteria": [{"criterion": c.criterion, "corrections": c.corrections,
                                        "retrained": c.retrained, "renamed": c.renamed, "added": c.added,
                                        "removed": c.removed,
                                        "moved": [{"file": f, "from": a, "to": b} for f, a, b in c.moved]}
                                       for c in report.criteria]}, indent=2))
        return EXIT_OK
    for c in report.criteria if not args.quiet else ():
        print(f"{c.criterion}: {plural(c.corrections, 'photo')} you moved" + (", head retrained" if c.retrained else ""))
        for old, new in c.renamed:
            print(f"  renamed {old} -> {new}")
        for name in c.added:
            print(f"  new cluster {name}")
        for name in c.removed:
            print(f"  removed empty cluster {name}")
        for (a, b), n in sorted(Counter((a, b) for _, a, b in c.moved).items()):
            print(f"  {n:5d} re-sorted {a} -> {b}")
    for path in report.ignored if not args.quiet else ():
        say(f"left alone (not a photo of this export): {path}")
    moved = sum(len(c.moved) for c in report.criteria)
    print(f"{plural(moved, 'photo')} you did not touch {were(moved)} re-sorted under {report.out}"
          + (" (--resort-all: wherever the retrained head and its look-alikes agreed)"
             if report.resort == "all" else "")
          + "; the ones you placed stayed"
          + ("; `esmc-desktop undo` still puts every original back" if report.move_export else ""))
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    """Put back every photo a move took away, and take back every keyword a tag export wrote."""
    from esmc_desktop.app.undo import undo_export

    restored, untagged = undo_export(args.out)
    if args.json:
        print_json({"out": str(args.out), "restored": restored, "untagged": untagged})
        return EXIT_OK
    if restored:
        print(f"restored {plural(restored, 'photo')} to where {'it was' if restored == 1 else 'they were'}; "
              f"the moved {'copy was' if restored == 1 else 'copies were'} removed")
    if untagged:
        print(f"took the keywords of this export back out of {plural(untagged, 'file')}; everything else in "
              f"{'it' if untagged == 1 else 'them'} is as it was")
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
    return run_gui(model.lm, model.mmproj, _settings(args), _compute(args), cache_dir=args.cache,
                   remembered_model=args.model is None, gpu_layers=args.gpu_layers, template=args.template)


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate sample photos, cluster them by colour, shape and background with the demo model, export, score."""
    from esmc_desktop.app import checks
    from esmc_desktop.app.demo import model_label, run_demo

    if args.photos < 10:
        raise EsmcError("--photos must be at least 10")
    checks.output_folder(args.out)
    model = _model(args)
    report = run_demo(args.out, model, n_photos=args.photos, seed=args.seed, settings=_settings(args),
                      compute=_compute(args), note=notes(args.quiet),
                      progress=None if args.quiet else progress_bars())
    for done in report.result.criteria:
        read, c = done.reading, done.clustering
        m = report.metrics[read.criterion.text]
        print(f"{read.criterion.text}: NMI {m['nmi']:.3f}  RI {m['ri']:.3f}  ARI {m['ari']:.3f}  ACC {m['acc']:.3f}"
              f"   ({read.localization.message})")
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
    from esmc_desktop.app.bench import BenchConfig, load_dataset, parse_mapping, run_benchmark, write_report

    config = BenchConfig(seeds=args.seeds, alpha=args.alpha, readout=args.readout, optimizer=args.optimizer,
                         answers=args.answers, answer_tokens=args.answer_tokens,
                         phrases=parse_mapping(args.criterion))
    config.check()
    checks.photo_folder(args.dataset)
    checks.output_folder(args.out)
    dataset = load_dataset(args.dataset, config.phrases)
    model = _model(args)
    report = run_benchmark(dataset, model, config=config, cache_dir=args.cache, settings=_settings(args),
                           compute=_compute(args), note=notes(args.quiet),
                           progress=None if args.quiet else progress_bars())
    table, written = write_report(report, args.out)
    print(table)
    print(f"written: {', '.join(map(str, written))}")
    return EXIT_OK


