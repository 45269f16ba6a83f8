"""The command line's options: each command lists the options it uses, and only those.

Built from light modules only (the choices and defaults sit in modules that import no numpy,
llama.cpp, onnx or Qt), so `--help` answers at once. Abbreviated options are refused
(`--mode` is never taken for `--model`): what a script writes is what it means.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from esmc_desktop.app.options import (AUTO, CATALOG, CPU_WEIGHTS, DEFAULT_MODEL, DEFAULT_QUANT, DEFAULT_SAMPLES, MODES,
                                      RULE_VERSIONS, SPANS, TEMPLATES, GpuLayers, __version__)
from esmc_desktop.cli import commands as c
from esmc_desktop.errors import EsmcError

QUIET_HELP = "print only errors and the final summary (no progress bars, no notes)"
JSON_HELP = "print the result as JSON on stdout (no progress bars)"


def _gpu_layers(text: str):
    """--gpu-layers as a GpuLayers; a wrong value is a usage error with the setting's own sentence."""
    try:
        return GpuLayers.parse(text)
    except EsmcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def _cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", type=Path, help="folder for the feature cache (default: the user cache folder)")


def _export_options(p: argparse.ArgumentParser) -> None:
    """How the clusters are written: cluster and assign."""
    p.add_argument("--mode", choices=MODES, default="copy",
                   help="copy (default), hardlink, symlink, move; tags: keywords in an XMP sidecar next to each "
                        "photo (IMG_1.JPG.xmp), the photos untouched; tags-embedded: keywords inside JPEG files "
                        "(sidecars for other formats). Undo move and tags with `esmc-desktop undo OUT`")
    p.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="leave out files and folders whose name or path under the photo folder matches, e.g. "
                        "'Private' or '*.gif' (repeatable); earlier exports and --out are always left out")


def _localization_options(p: argparse.ArgumentParser, seed: int = 0,
                          seed_help: str = "seed for sampling and clustering") -> None:
    """How each criterion is localized: every command that clusters (read by commands._settings)."""
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="photos sampled to localize each criterion")
    p.add_argument("--seed", type=int, default=seed, help=seed_help)
    p.add_argument("--localization", choices=RULE_VERSIONS, default=None,
                   help="settled (default: the place whose photo-dependent readings carry the most bits and stay "
                        "in the next blocks) or paper (ESMC's Algorithm 1 as written: first tokens, every position, "
                        "the most keyword hits)")
    p.add_argument("--search", choices=SPANS, default=None,
                   help="where to look: prompt (default: the criterion's own tokens, as the paper) or template "
                        "(also the chat template's tokens after the image)")


def _model_options(p: argparse.ArgumentParser, template: bool = True,
                   default: str = "the first registered model, the demo model when shipped") -> None:
    """Which model, and how llama.cpp runs it: every command that runs the model."""
    p.add_argument("--model", help="a registered model name (see `models list`), or the LM GGUF path with --mmproj "
                                   f"(default: {default})")
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
    if template:
        p.add_argument("--template", choices=TEMPLATES, default=None,
                       help="chat format: llava-v1 (default; LLaVA's system prompt, as ESMC's code) or llava-hf "
                            "(no system prompt)")


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    return sub.add_parser(name, allow_abbrev=False, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Every command and its options; each command's function is `func`."""
    parser = argparse.ArgumentParser(
        prog="esmc-desktop", allow_abbrev=False,
        description="Sort photos into clusters by criteria you type, offline, with LLaVA through llama.cpp.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "inspect", help="show what the model 'thinks' at every layer and prompt token",
                 description=c.cmd_inspect.__doc__)
    p.add_argument("--image", type=Path, required=True, help="a photo")
    p.add_argument("--prompt", action="append", required=True,
                   help='text after the image, e.g. "The color of the car is" (repeatable)')
    p.add_argument("--top", type=int, default=1, help="tokens shown per layer and position (1 = a grid)")
    p.add_argument("--npz", type=Path, help="also save the hidden states to this .npz file")
    _json(p)
    _quiet(p)
    _model_options(p)
    p.set_defaults(func=c.cmd_inspect)

    p = _command(sub, "cluster", help="sort a photo folder into cluster folders, one tree per criterion",
                 description=c.cmd_cluster.__doc__ + " Example: esmc-desktop cluster ~/Pictures/cars "
                 "--criterion 'color of the car' --criterion 'brand of the car:4' --out ~/Sorted")
    p.add_argument("photos", type=Path, help="folder of photos (searched recursively)")
    p.add_argument("--criterion", action="append", required=True,
                   help="what to sort by, e.g. 'color of the car'; add ':K' for K clusters (default: auto)")
    p.add_argument("--keywords", action="append",
                   help="'CRITERION=red,green,blue': the words the criterion's answers start with "
                        "(default: asked of the model)")
    p.add_argument("--values", action="append",
                   help="'CRITERION=beach,mountains,city': sort into exactly these values, plus `other` for photos "
                        "that read none of them; a last '+' ('CRITERION=beach,city,+') also discovers and names "
                        "clusters among the rest (--keywords only guide; values decide)")
    p.add_argument("--out", type=Path, required=True, help="folder the cluster folders go into")
    p.add_argument("--target", action="append",
                   help="'CRITERION=LAYER:TOKEN' (or LAYER:TOKEN with one criterion): read the criterion at that block "
                        "and prompt token, e.g. 26:car, instead of localizing it (`inspect` shows the places)")
    p.add_argument("--alpha", type=float, default=None,
                   help="share of each k-means cluster, nearest its centre, that the clustering head learns from "
                        "(ESMC's Algorithm 2; default 0.3)")
    _export_options(p)
    _json(p)
    _quiet(p)
    _cache(p)
    _localization_options(p)
    _model_options(p)
    p.set_defaults(func=c.cmd_cluster)

    p = _command(sub, "assign", help="sort new photos into an existing result (its saved heads)",
                 description=c.cmd_assign.__doc__)
    p.add_argument("photos", type=Path, help="folder of new photos")
    p.add_argument("--result", type=Path, required=True, help="the --out folder of an earlier `cluster` run")
    _export_options(p)
    _json(p)
    _quiet(p)
    _cache(p)
    _model_options(p, template=False, default="the pair the result was made with; its chat format always")
    p.set_defaults(func=c.cmd_assign)

    p = _command(sub, "gui", help="open the desktop window", description=c.cmd_gui.__doc__)
    _cache(p)
    _localization_options(p)
    _model_options(p)
    p.set_defaults(func=c.cmd_gui)

    p = _command(sub, "demo", help="generate sample photos and sort them with the shipped demo model",
                 description=c.cmd_demo.__doc__)
    p.add_argument("--out", type=Path, default=Path("esmc-demo"), help="folder for the photos and sorted folders")
    p.add_argument("--photos", type=int, default=120, help="how many sample photos to generate")
    _quiet(p)
    _localization_options(p, seed=7, seed_help="seed of the generated photos, their sampling and clustering")
    _model_options(p)
    p.set_defaults(func=c.cmd_demo)

    p = _command(sub, "bench", help="compare ESMC with the papers' baselines on a labelled dataset",
                 description=c.cmd_bench.__doc__)
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
    _quiet(p)
    _cache(p)
    _localization_options(p)
    _model_options(p)
    p.set_defaults(func=c.cmd_bench)

    p = _command(sub, "learn", help="learn from photos you moved between cluster folders; re-sort the rest",
                 description=c.cmd_learn.__doc__ + " Every photo found in another cluster folder than it was "
                 "exported to counts as a correction; a renamed folder renames its cluster, a new folder "
                 "makes a new cluster. Photos you placed are never moved.")
    p.add_argument("out", type=Path, help="the --out folder of an earlier `cluster` (or window export)")
    p.add_argument("--cache", type=Path, help="the feature cache the export was made with (default: the user "
                                              "cache folder)")
    p.add_argument("--resort-all", action="store_true",
                   help="use when most of the photos were in the wrong cluster: every photo you did not touch goes "
                        "where the retrained head and its look-alikes agree. By default only photos your corrections "
                        "make doubtful move, so a clustering that was mostly right keeps what it had right (then "
                        "--resort-all can cost a few of those); on a weak one the default gains little")
    _json(p)
    _quiet(p)
    p.set_defaults(func=c.cmd_learn)

    p = _command(sub, "undo", help="reverse a --mode move or tags export", description=c.cmd_undo.__doc__)
    p.add_argument("out", type=Path, help="the --out folder of the export")
    _json(p)
    p.set_defaults(func=c.cmd_undo)

    models = _command(sub, "models", help="check, repair and remember model files",
                      description="Model files stay where you keep them; this checks and remembers them.")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = _command(msub, "check", help="say what two GGUF files are and whether they work together",
                 description=c.cmd_models_check.__doc__)
    p.add_argument("lm", type=Path, help="language model GGUF")
    p.add_argument("mmproj", type=Path, help="vision projector GGUF (mmproj)")
    _json(p)
    p.set_defaults(func=c.cmd_models_check)
    p = _command(msub, "repair-mmproj", help="write a corrected copy of a legacy LLaVA-1.5 mmproj (IN is untouched)",
                 description=c.cmd_models_repair.__doc__)
    p.add_argument("src", type=Path, metavar="IN")
    p.add_argument("dst", type=Path, metavar="OUT")
    p.set_defaults(func=c.cmd_models_repair)
    p = _command(msub, "list", help="the remembered models", description=c.cmd_models_list.__doc__)
    _json(p)
    p.set_defaults(func=c.cmd_models_list)
    p = _command(msub, "add", help="remember a model pair under a name (files are checked)")
    p.add_argument("name")
    p.add_argument("lm", type=Path)
    p.add_argument("mmproj", type=Path)
    p.set_defaults(func=c.cmd_models_add)
    p = _command(msub, "remove", help="forget a model pair (the files are not deleted)")
    p.add_argument("name")
    p.set_defaults(func=c.cmd_models_remove)
    p = _command(msub, "default", help="use this model when none is named")
    p.add_argument("name")
    p.set_defaults(func=c.cmd_models_default)
    p = _command(msub, "pull", help="download a known LLaVA-1.5 GGUF pair, check and repair it, make it the default",
                 description=c.cmd_models_pull.__doc__)
    p.add_argument("name", nargs="?", default=DEFAULT_MODEL,
                   help=f"{' or '.join(m.name for m in CATALOG)} (default {DEFAULT_MODEL})")
    p.add_argument("--quant", default=DEFAULT_QUANT,
                   help=f"quantization of the language model (default {DEFAULT_QUANT}); e.g. Q5_K_M, Q8_0")
    p.add_argument("--from", dest="source", metavar="URL|DIR",
                   help="a Hugging Face mirror (URL) or a folder that already holds the files")
    _quiet(p)
    p.set_defaults(func=c.cmd_models_pull)

    p = _command(sub, "doctor", help="the llama.cpp build, devices, free memory, models that fit, and the GPU "
                                     "build's install command where this machine has a GPU",
                 description=c.cmd_doctor.__doc__)
    p.set_defaults(func=c.cmd_doctor)
    return parser
