"""The localization settings' names and defaults: light (no numpy), so the command line's --help lists them
without loading the method."""

from __future__ import annotations

DEFAULT_SAMPLES = 20
"""The paper recommends 10-20 sample photos (its Appendix A.6). 20: with 10, a sample that happened to hold 3
of 6 colours let an early layer that confuses the other three tie with the right one (demo model, held-out
world: colour NMI 0.819 with 10 samples, 1.000 with 20). The samples' runs also give their photos' vectors."""
DEFAULT_RULE = "settled"
RULE_VERSIONS = {"settled": 1, "paper": 2}
"""Bump a rule's version whenever its choices change: cached targets are keyed by it."""
SPANS = ("prompt", "template")
DEFAULT_SPAN = "prompt"
