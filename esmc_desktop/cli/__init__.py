"""The `esmc-desktop` command line.

Exit codes scripts can rely on: 0 success, 1 a problem with the input (one
`error: ...` line on stderr saying what to do), 2 a usage error, 130 interrupted.
Anything else that escapes is a bug and shows its traceback.

parser.py lists each command's options (light: `--help` imports no numpy, llama.cpp,
onnx or Qt); commands.py runs them through the application layer; output.py prints.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_at_start(_signum, _frame) -> None:
    """Ctrl+C while the program starts (imports, before main's handlers): nothing to undo yet; one line, 130."""
    sys.stderr.write("interrupted\n")
    os._exit(130)


# run as a program (`esmc-desktop`; `python -m esmc_desktop.cli`, whose package is imported while argv[0] is
# still "-m"), not imported by a test or a script
if os.path.basename(sys.argv[0]).startswith("esmc-desktop") or sys.argv[0] == "-m":
    signal.signal(signal.SIGINT, _interrupted_at_start)

import logging  # noqa: E402 (after the start-up handler, so a Ctrl+C during these imports is one line too)
from typing import Sequence  # noqa: E402

from esmc_desktop.cli.commands import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE  # noqa: E402
from esmc_desktop.cli.output import Notes, close_bars  # noqa: E402
from esmc_desktop.cli.parser import build_parser  # noqa: E402
from esmc_desktop.errors import EsmcError  # noqa: E402

__all__ = ["EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from esmc_desktop.app import interrupts

    as_program = signal.getsignal(signal.SIGINT) is _interrupted_at_start
    if as_program:
        signal.signal(signal.SIGINT, interrupts.on_sigint)  # from here on Ctrl+C unwinds (cleans up) first
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
    except KeyboardInterrupt as exc:  # one line; an interrupted export says what it left and how to undo it
        close_bars()
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        if not (as_program and interrupts.received()):
            raise
        close_bars()  # a library cut short by Ctrl+C in its own C code raised its own error
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logger.removeHandler(notes)
        if as_program:  # the outcome is said; a Ctrl+C while the program exits changes nothing
            signal.signal(signal.SIGINT, signal.SIG_IGN)
