"""Which photos are worth a look: those the head nearly put into another cluster, each with that runner-up.

A photo is in doubt when the head finds its runner-up cluster at least half as likely as the
cluster it chose (logit margin below ln 2). That bound is a property of the softmax, not of a
model or a data set: at it, by the head's own odds, one such photo in three belongs to the
runner-up. When no photo is that doubtful (a confident head), or the head gives no
probabilities (nearest-centroid fallback), the least certain 5% are listed instead, so there
is always a short list to start with. Either way the list is cut to a screenful, least
certain first: a list to go through, not the folder again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from esmc_desktop.app.result import SortResult

HALF_AS_LIKELY = math.log(2.0)  # logit margin at which the runner-up is half as likely as the chosen cluster
LEAST_CERTAIN_SHARE = 0.05  # no photo that doubtful, or no probabilities: the least certain 5%
SCREENFUL = 48


@dataclass(frozen=True)
class Doubt:
    """A photo in doubt: the runner-up cluster it nearly went to, and how likely that is next to its own."""

    photo: int
    runner_up: int
    odds: float  # runner-up's probability / chosen cluster's (1.0: a tie); nan without probabilities

    @property
    def doubtful(self) -> bool:
        """The runner-up is at least half as likely (else the photo is listed as one of the least certain 5%)."""
        return self.odds >= 0.5


def photos_in_doubt(result: SortResult, criterion: int, limit: int = SCREENFUL) -> list[Doubt]:
    """The criterion's photos in doubt, least certain first, at most `limit`; photos placed by hand are not."""
    crit = result.criterion(criterion)
    logits = crit.logits()
    n = len(crit.labels)
    open_photos = np.setdiff1d(np.arange(n), np.fromiter(crit.placed, int, len(crit.placed)))
    if open_photos.size == 0 or logits.shape[1] < 2:
        return []
    rows = logits[open_photos]
    labels = np.asarray(crit.labels)[open_photos]
    own = np.where(labels < rows.shape[1], labels, rows.argmax(axis=1))  # a new cluster has no logit: the head's pick
    own_logit = rows[np.arange(len(rows)), own]
    others = rows.copy()
    others[np.arange(len(rows)), own] = -np.inf
    runner_up = others.argmax(axis=1)
    margin = own_logit - others[np.arange(len(rows)), runner_up]
    order = np.argsort(margin, kind="stable")
    doubtful = order[margin[order] < HALF_AS_LIKELY] if crit.weights.has_confidence else order[:0]
    order = doubtful if doubtful.size else order[:max(1, math.ceil(LEAST_CERTAIN_SHARE * len(order)))]
    odds = np.exp(-margin) if crit.weights.has_confidence else np.full(len(margin), math.nan)
    return [Doubt(int(open_photos[j]), int(runner_up[j]), float(odds[j])) for j in order[:limit]]
