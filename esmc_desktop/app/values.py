"""Named values after the sort: a cluster the sort discovered (or `other`) made a value, or merged into one.

Make it a value: the cluster keeps its photos and its output of the head, under the name the user gives; it
is a value from then on (a folder among the values, a target for merges). Its head output stays what decides
which new photos go there: the name the user gives need not be a word the model reads in those photos, the
photos themselves are what the cluster is.

Merge into a value: the cluster's photos join the value, its name goes, and the head is changed so `assign`
sends photos read like them to the value too (method.values.merge_into_value): the value's own words still
decide for photos that read it, and the region of the lens that went to the cluster now goes to the value.
Where the head cannot take that exactly (it was learnt from corrections, the value was made from a discovered
cluster, or something was merged into it already), the photos join the value as the user's placements and
the cluster's output goes: Apply corrections (`learn`) then teaches the head, as for any correction; the
merge says so.

Both are edits of the one SortResult, written by the next export (folders, tags, the saved head). A merge can
be undone while it is the criterion's last change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from esmc_desktop.app.clusters import drop_cluster
from esmc_desktop.app.result import CriterionClusters, SortResult
from esmc_desktop.errors import EsmcError
from esmc_desktop.method.values import OTHER, merge_into_value


@dataclass(frozen=True)
class Merge:
    """What `merge_cluster` did, and what `undo_merge` needs to take it back."""

    criterion: int
    cluster: str  # the merged cluster's name
    value: str
    photos: int  # how many photos joined the value
    exact: bool  # the head sends photos like them to the value; False: they are placements, learning teaches it
    before: CriterionClusters  # the criterion as it was (its lists copied)
    after: tuple  # the criterion's names, labels, values and placements right after: undo only while nothing
                  # else changed

    @property
    def sentence(self) -> str:
        said = f"Merged '{self.cluster}' ({self.photos} photos) into '{self.value}'"
        if self.exact:
            return said + "; new photos read like them go to it too."
        return (said + ": they are your placements in it; Apply corrections teaches the head to send photos "
                       "like them there.")


def make_value(result: SortResult, criterion: int, cluster: int, name: str | None = None) -> None:
    """Make a discovered cluster (or `other`) a value, renamed to `name` when given; its photos stay in it."""
    crit = result.criterion(criterion)
    _check(crit, cluster)
    if crit.is_value(cluster):
        raise EsmcError(f"'{crit.names[cluster]}' is a value already")
    if name is not None:
        result.rename(criterion, cluster, name)
    if crit.names[cluster] == OTHER:
        raise EsmcError(f"give '{OTHER}' a name of its own to make it a value (it holds the photos that read none)")
    crit.values.append(crit.names[cluster])
    result.edited = True


def merge_cluster(result: SortResult, criterion: int, cluster: int, value: int) -> Merge:
    """Merge cluster `cluster` (discovered, or `other`) into value `value`: its photos join the value, its name goes."""
    crit = result.criterion(criterion)
    _check(crit, cluster)
    _check(crit, value)
    if crit.is_value(cluster):
        raise EsmcError(f"'{crit.names[cluster]}' is a value: move its photos instead, or merge a discovered "
                        f"cluster into it")
    if not crit.is_value(value):
        raise EsmcError(f"'{crit.names[value]}' is not a value of '{crit.text}': make it one first")
    before = replace(crit, names=list(crit.names), labels=list(crit.labels), confidences=list(crit.confidences),
                     explanations=[list(e) for e in crit.explanations], placed=set(crit.placed),
                     values=list(crit.values))
    members = crit.members(cluster)
    named = len(crit.reading.criterion.values or ())
    head = merge_into_value(crit.weights, crit.reading.vectors, named, value, cluster)
    for photo in members:
        crit.labels[photo] = value
        if head is None:
            crit.placed.add(photo)
    if head is not None:
        crit.weights = head
    name, value_name = crit.names[cluster], crit.names[value]
    drop_cluster(result, crit, cluster, head=head is None)
    return Merge(criterion, name, value_name, len(members), head is not None, before, _state(crit))


def undo_merge(result: SortResult, merge: Merge) -> None:
    """Put the criterion back as it was before `merge`; refused in words when it was changed since."""
    crit = result.criterion(merge.criterion)
    if _state(crit) != merge.after:
        raise EsmcError(f"'{crit.text}' was changed after '{merge.cluster}' was merged, so the merge can no longer "
                        f"be undone alone: move the photos back by hand")
    result.criteria[merge.criterion] = merge.before
    result.edited = True


def _check(crit: CriterionClusters, cluster: int) -> None:
    if not 0 <= cluster < len(crit.names):
        raise EsmcError(f"'{crit.text}' has no cluster {cluster + 1}")


def _state(crit: CriterionClusters) -> tuple:
    return tuple(crit.names), tuple(crit.labels), tuple(crit.values), tuple(sorted(crit.placed)), id(crit.weights)
