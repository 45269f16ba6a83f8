"""The `esmc-desktop` command line.

Exit codes scripts can rely on: 0 success, 1 a problem with the input (message
on stderr), 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from esmc_desktop import __version__
from esmc_desktop.errors import EsmcError

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
    lens = LogitLens.from_gguf(args.model, LensParams(top_k=max(args.top, DEFAULT_TOP_K)))
    with LlavaRuntime(args.model, args.mmproj, n_ctx=args.n_ctx, n_threads=args.threads,
                      n_gpu_layers=args.gpu_layers) as rt:
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


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="language model GGUF (e.g. llava-v1.5-7b-Q4_K_M.gguf)")
    p.add_argument("--mmproj", type=Path, required=True, help="vision projector GGUF (mmproj)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--gpu-layers", type=int, default=0, help="layers to offload to a GPU build of llama.cpp")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EsmcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
