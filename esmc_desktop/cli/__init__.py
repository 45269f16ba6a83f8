"""The `esmc-desktop` command line.

Exit codes scripts can rely on: 0 success, 1 a problem with the input (one
`error: ...` line on stderr saying what to do), 2 a usage error, 130 interrupted.
Anything else that escapes is a bug and shows its traceback.

parser.py lists each command's options (light: `--help` imports no numpy, llama.cpp,
onnx or Qt); commands.py runs them through the application layer; output.py prints.
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

from esmc_desktop.cli.commands import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from esmc_desktop.cli.output import Notes
from esmc_desktop.cli.parser import build_parser
from esmc_desktop.errors import EsmcError

__all__ = ["EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    notes = Notes(logging.ERROR if getattr(args, "quiet", False) else logging.WARNING)
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
