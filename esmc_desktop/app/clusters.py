"""Removing a cluster the user emptied: its name goes, and so does the head's output for it.

A cluster is a folder on export and an output of the saved head, which `assign` maps to the
names by position. So the head loses that output with the name, and the clusters after it
move up one id; the photos keep their clusters.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from esmc_desktop.app.result import CriterionClusters, SortResult
from esmc_desktop.errors import EsmcError


def remove_cluster(result: SortResult, criterion: int, cluster: int) -> None:
    """Remove an empty cluster of a criterion; a cluster that still holds photos is refused in words."""
    crit = result.criterion(criterion)
    if not 0 <= cluster < len(crit.names):
        raise EsmcError(f"'{crit.text}' has no cluster {cluster + 1}")
    held = len(crit.members(cluster))
    if held:
        raise EsmcError(f"'{crit.names[cluster]}' still holds {held} photo(s): move them to other clusters first")
    if len(crit.names) <= 2:
        raise EsmcError(f"'{crit.text}' needs at least two clusters; '{crit.names[cluster]}' stays")
    drop_cluster(result, crit, cluster)


def drop_cluster(result: SortResult, crit: CriterionClusters, cluster: int, head: bool = True) -> None:
    """Take a cluster that holds no photo out of the names and (`head`) the head; the clusters after it move up one."""
    weights = crit.weights
    if head and cluster < weights.w2.shape[1]:  # a cluster made by hand has no head output until learning
        keep = np.delete(np.arange(weights.w2.shape[1]), cluster)
        crit.weights = replace(weights, w2=weights.w2[:, keep], b2=weights.b2[keep])
    if crit.names[cluster] in crit.values:
        crit.values.remove(crit.names[cluster])
    del crit.names[cluster]
    if cluster < len(crit.explanations):
        del crit.explanations[cluster]
    crit.labels[:] = [label - 1 if label > cluster else label for label in crit.labels]
    result.edited = True
