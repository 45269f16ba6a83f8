"""Under a criterion's clusters: Apply corrections (or Re-sort all), Undo learning, what the last step did, and two
review lists."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from esmc_desktop.app.result import CriterionClusters
from esmc_desktop.app.review import Doubt
from esmc_desktop.gui.learning import Changes
from esmc_desktop.gui.photo_texts import no_confidence_text

CHANGED = "changed"
UNCERTAIN = "uncertain"
REVIEW_ROLE = Qt.ItemDataRole.UserRole + 6
RESORT_ALL_TIP = ("When most photos were in the wrong cluster: learn from the photos you placed and re-sort every "
                  "photo you did not touch where the retrained head and its look-alikes agree (Ctrl+Alt+L). Apply "
                  "corrections moves only the photos your corrections make doubtful, so it keeps what was right; "
                  "on a clustering that was mostly right, Re-sort all can move some right photos too")


class LearnPanel(QWidget):
    """The buttons, a summary line and the review lists; `show_state` fills them from the criterion view's state."""

    review_chosen = Signal(str)  # CHANGED or UNCERTAIN

    def __init__(self, criterion_text: str) -> None:
        super().__init__()
        self.apply_button = QPushButton("Apply corrections")
        self.apply_button.setToolTip("Learn from the photos you placed and re-sort the photos you did not touch "
                                     "(Ctrl+L)")
        self.resort_all_button = QPushButton("Re-sort all")
        self.resort_all_button.setToolTip(RESORT_ALL_TIP)
        self.undo_button = QPushButton("Undo learning", enabled=False)
        self.undo_button.setToolTip("Put the clusters back as they were before the last Apply corrections, "
                                    "edits made since included")
        self.summary = QLabel(wordWrap=True)
        self.summary.setAccessibleName(f"What learning did for {criterion_text}")
        self.review = QListWidget()
        self.review.setAccessibleName(f"Photos to review for {criterion_text}")
        self.review.setMaximumHeight(52)
        for key in (CHANGED, UNCERTAIN):
            item = QListWidgetItem()
            item.setData(REVIEW_ROLE, key)
            self.review.addItem(item)
        for signal in (self.review.itemClicked, self.review.itemActivated):
            signal.connect(lambda item: self.review_chosen.emit(item.data(REVIEW_ROLE)))
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.resort_all_button)
        buttons.addWidget(self.undo_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(buttons)
        box.addWidget(self.summary)
        box.addWidget(self.review)

    def show_state(self, placed: int, changes: Changes | None, learning: bool, uncertain: int) -> None:
        """What can be done now, and what the last step did: `placed` photos by hand, `uncertain` listed."""
        self.apply_button.setEnabled(bool(placed) and not learning)
        self.resort_all_button.setEnabled(bool(placed) and not learning)
        self.undo_button.setEnabled(changes is not None and not learning)
        self.review.item(0).setText("Changed by learning" + ("" if changes is None else f" ({len(changes.moved):,})"))
        self.review.item(1).setText(f"Least certain ({uncertain:,})")
        if learning:
            text = f"Learning from the {placed:,} photos you placed…"
        elif changes is not None:
            text = (f"Learnt from {changes.corrections:,} photos you placed"
                    + (", re-sorting all" if changes.resort == "all" else "")
                    + f": {len(changes.moved):,} photos changed cluster.")
        elif placed:
            text = f"{placed:,} photos placed by you (●). Apply corrections learns from them and re-sorts the rest."
        else:
            text = "Move a few photos where they belong (start with Least certain), then Apply corrections."
        self.summary.setText(text)

    def select(self, key: str | None) -> None:
        """Show which review list is on screen (None: a cluster is)."""
        self.review.blockSignals(True)
        self.review.clearSelection()
        for row in range(self.review.count()):
            if self.review.item(row).data(REVIEW_ROLE) == key:
                self.review.setCurrentRow(row)
        self.review.blockSignals(False)


def changed_header(changes: Changes | None) -> str:
    """Above the grid while it shows the photos the last learning step moved."""
    if changes is None:
        return ("<b>Changed by learning</b>: no learning step yet. Move photos where they belong (onto a cluster, "
                "or onto New cluster), then Apply corrections.")
    removed = (f" Removed the empty cluster(s) {html.escape(', '.join(changes.removed))}." if changes.removed else "")
    return (f"<b>Changed by learning</b>: {len(changes.moved):,} photos you had not touched went to another cluster "
            f"(from → to under each). The photos you placed (marked ●) stayed.{removed} Undo learning puts the "
            "clusters back.")


def uncertain_header(crit: CriterionClusters, doubts: list[Doubt]) -> str:
    """Above the grid while it shows the photos in doubt (app.review): which, and how to move them."""
    if doubts and all(d.doubtful for d in doubts):
        which = (f"{len(doubts):,} photos the model nearly put into another cluster (it finds the runner-up at least "
                 "half as likely)")
    elif crit.weights.has_confidence:
        which = (f"{len(doubts):,} least certain photos (the least certain 5%; no photo's runner-up is even half as "
                 "likely as its own cluster)")
    else:
        which = f"{len(doubts):,} least certain photos (the least certain 5%)"
    text = (f"<b>Least certain</b>: the {which}, least sure first, each with its runner-up. R moves the selected "
            "photos to their runner-up, 1-9 to that cluster, or drag them onto a cluster; then Apply corrections.")
    if not crit.weights.has_confidence:
        text += (f"<br>{html.escape(no_confidence_text(crit), quote=False)} Listed by how nearly as close each "
                 "photo is to another cluster's centre.")
    return text
