"""`python -m esmc_desktop.cli`: the same as the `esmc-desktop` command."""

from esmc_desktop.cli import main

raise SystemExit(main())
