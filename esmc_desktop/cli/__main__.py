"""`python -m esmc_desktop.cli`: the same as the `esmc-desktop` command."""

from esmc_desktop.cli import main

status = main()
# CPython's `-m` remembers a KeyboardInterrupt raised inside an exec or eval of a string (scipy imports numpy's
# names that way; dataclasses and namedtuple build their methods so) and ends the process by SIGINT after our
# status was set: a Ctrl+C during start-up, already answered with "interrupted", would exit -2 instead of 130.
# Running a string that raises nothing clears that memory.
exec("")
raise SystemExit(status)
