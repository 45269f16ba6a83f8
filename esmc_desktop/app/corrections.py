"""Learning from corrections in the window: the photos moved by hand in a SortResult are the corrections.

One "Apply corrections" retrains a criterion's head (method.learn) and re-sorts the photos not moved;
the step can be undone. (Corrections made in an export folder's files: app/learn.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from esmc_desktop.app.result import SortResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.method.learn import check_resort, learn_from_corrections


@dataclass
class LearningStep:
    """One "Apply corrections" in the window: what changed, and what undo puts back."""

    criterion: int
    changed: list[int]  # untouched photos whose cluster changed
    removed: list[str]  # clusters left with no photo
    _before: tuple = ()
    resort: str = "doubtful"  # which untouched photos could move (method.learn.RESORT_CHOICES)


def apply_corrections(result: SortResult, criterion: int, *, alpha: float = 0.3,
                      seed: int = 0, resort: str = "doubtful") -> LearningStep:
    """Retrain a criterion's head with the photos moved by hand; re-sort the photos not moved.

    The learnt head replaces the result's, so an export saves it (and `assign` uses it). `resort`: as in
    `learn_export` ("all": the user found the clustering mostly wrong).
    """
    check_resort(resort)
    crit = result.criterion(criterion)
    corrections = {i: crit.labels[i] for i in sorted(crit.placed)}
    if not corrections:
        raise EsmcError(f"no photo of '{crit.text}' was moved by hand: move some, then apply the corrections")
    before = (list(crit.names), list(crit.labels), list(crit.confidences), [list(e) for e in crit.explanations],
              set(crit.placed), crit.weights)
    learnt = learn_from_corrections(crit.reading.vectors, np.array(crit.labels), corrections, alpha=alpha, seed=seed,
                                    confidences=np.array(crit.confidences, dtype=float), resort=resort)
    removed = [crit.names[c] for c in range(len(crit.names)) if c not in learnt.kept]
    crit.names = [crit.names[c] for c in learnt.kept]
    crit.explanations = [crit.explanations[c] if c < len(crit.explanations) else [] for c in learnt.kept]
    crit.labels[:] = [int(x) for x in learnt.labels]
    crit.confidences[:] = [float(x) for x in learnt.confidences]
    crit.weights = learnt.weights
    result.edited = True
    return LearningStep(criterion, [int(i) for i in learnt.changed], removed, before, resort)


def undo_corrections(result: SortResult, step: LearningStep) -> None:
    """Put the criterion back as it was before `step`: clusters, names, the photos' places, the head."""
    crit = result.criterion(step.criterion)
    names, labels, confidences, explanations, placed, weights = step._before
    crit.names, crit.explanations, crit.placed = names, explanations, placed
    crit.labels[:] = labels
    crit.confidences[:] = confidences
    crit.weights = weights


def least_certain(result: SortResult, criterion: int) -> list[int]:
    """The criterion's photos from the least to the most certain of their cluster (placed by hand last)."""
    crit = result.criterion(criterion)
    margins = crit.weights.margins(crit.reading.vectors)
    order = np.argsort(margins, kind="stable")
    return [int(i) for i in order if i not in crit.placed] + sorted(crit.placed)
