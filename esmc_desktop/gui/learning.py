"""Apply corrections from the window: the learning step runs in a background job, on a copy of the criterion.

The window's result is only changed on the GUI thread, when the step has finished: the
criterion's clusters, drawn and exported meanwhile, are never half learnt, and the
criterion's view takes no edit while it waits. Each step can be undone, the last first.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, fields, replace
from typing import Callable

from PySide6.QtCore import QObject

from esmc_desktop.app.corrections import LearningStep, apply_corrections, undo_corrections
from esmc_desktop.app.result import SortResult
from esmc_desktop.gui.jobs import JobRunner


@dataclass(frozen=True)
class Changes:
    """What one learning step did to a criterion, in the names the user saw."""

    corrections: int  # photos the user had placed, learnt from
    moved: dict[int, tuple[str, str]]  # photo -> (cluster before, cluster after), for photos the user did not touch
    removed: list[str]  # clusters left with no photo
    resort: str = "doubtful"  # which untouched photos could move (method.learn.RESORT_CHOICES)


class LearningSteps(QObject):
    """Runs learning steps for the criteria's tabs and keeps, per criterion, the steps not undone."""

    def __init__(self, jobs: JobRunner, tabs, say: Callable[[str], None], error: Callable[[str], None]) -> None:
        super().__init__(jobs)
        self.jobs, self.tabs, self.say, self.error = jobs, tabs, say, error
        self.result: SortResult | None = None
        self._steps: dict[int, list[tuple[LearningStep, Changes]]] = {}
        self._running: set[int] = set()

    def reset(self, result: SortResult) -> None:
        """A new result is shown: earlier steps belong to the old one, and a step still running is dropped."""
        self.result, self._steps = result, {}

    def changes(self, criterion: int) -> Changes | None:
        """The last step still in force on this criterion."""
        steps = self._steps.get(criterion)
        return steps[-1][1] if steps else None

    def _criterion(self, criterion: int | None) -> int | None:
        """The criterion asked for, or the one whose tab is shown (None, and why, on the All photos tab)."""
        if criterion is None and self.result is not None:
            criterion = self.tabs.current_criterion()
        if criterion is None:
            self.say("Choose a criterion's tab first: learning works on one criterion.")
        return criterion

    def apply(self, criterion: int | None = None, resort: str = "doubtful") -> None:
        """Learn from the photos placed by hand in a criterion (the one shown by default), off the GUI thread.

        `resort="all"`: the user says most photos were wrong (Re-sort all); see app.learn.apply_corrections.
        """
        criterion = self._criterion(criterion)
        if criterion is None or criterion in self._running:
            return
        result = self.result
        crit = result.criterion(criterion)
        if not crit.placed:
            return self.error(f"No photo of '{crit.text}' was moved by hand yet: move a few where they belong "
                              "(Least certain lists where it helps most), then apply the corrections.")
        draft = _draft(result, criterion)
        self._running.add(criterion)
        self.tabs.view(criterion).set_learning(True)
        self.say(f"Learning from the {len(crit.placed)} photos you placed in '{crit.text}' (the result of "
                 f"{self.result.root})" + (", re-sorting all" if resort == "all" else "") + "…")
        self.jobs.start(lambda feedback: apply_corrections(draft, criterion, resort=resort),
                        lambda step: self._finish(result, draft, criterion, step),
                        on_failure=lambda message: self._fail(result, criterion, message))

    def undo(self, criterion: int | None = None) -> None:
        """Put a criterion back as it was before its last step (edits made since included)."""
        criterion = self._criterion(criterion)
        if criterion is None or criterion in self._running:
            return
        steps = self._steps.get(criterion)
        if not steps:
            return self.say("There is no learning step to undo in this criterion.")
        undo_corrections(self.result, steps.pop()[0])
        self.result.edited = True
        self.tabs.view(criterion).show_step(self.changes(criterion))
        self.say(f"Undid the learning step: '{self.result.criterion(criterion).text}' is as it was before it.")

    def show_review(self, key: str) -> None:
        """Show the photos the last step moved (CHANGED) or the least certain ones (UNCERTAIN) in the tab shown."""
        criterion = self._criterion(None)
        if criterion is not None:
            self.tabs.view(criterion).show_review(key)

    def _finish(self, result: SortResult, draft: SortResult, criterion: int, step: LearningStep) -> None:
        self._running.discard(criterion)
        if result is not self.result:  # sorted again meanwhile: the step belongs to a result no longer shown
            return
        before, after = result.criterion(criterion), draft.criterion(criterion)
        moved = {p: (before.names[before.labels[p]], after.names[after.labels[p]]) for p in step.changed}
        for name in (f.name for f in fields(after)):  # the same object: whoever holds it sees what was learnt
            setattr(before, name, getattr(after, name))
        result.edited = True
        changes = Changes(len(after.placed), moved, list(step.removed), step.resort)
        self._steps.setdefault(criterion, []).append((step, changes))
        view = self.tabs.view(criterion)
        view.set_learning(False)
        view.show_step(changes)
        removed = f" Removed the empty cluster(s) {', '.join(changes.removed)}." if changes.removed else ""
        how = ", re-sorting all" if step.resort == "all" else ""
        self.say(f"Learnt from the {changes.corrections} photos you placed in the result of {result.root.name}{how}: "
                 f"{len(moved)} other photos changed cluster (Changed by learning lists them; Undo learning puts "
                 f"them back).{removed}")

    def _fail(self, result: SortResult, criterion: int, message: str) -> None:
        self._running.discard(criterion)
        if result is self.result:
            self.tabs.view(criterion).set_learning(False)
        self.error(message)


def _draft(result: SortResult, criterion: int) -> SortResult:
    """The result with its own copy of one criterion's clusters, for the background job to change."""
    draft = copy(result)
    draft.criteria = list(result.criteria)
    crit = result.criterion(criterion)
    draft.criteria[criterion] = replace(crit, names=list(crit.names), labels=list(crit.labels),
                                        confidences=list(crit.confidences),
                                        explanations=[list(e) for e in crit.explanations], placed=set(crit.placed))
    return draft
