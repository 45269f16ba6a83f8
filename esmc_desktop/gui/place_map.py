"""A map of where a criterion can be read: model blocks by prompt tokens, the chosen place marked.

Each cell is one (block, token) place, shaded by the localization rule's score there; its tooltip says
how many sample photos read a keyword there and which one most often. The chosen place is marked ●,
places that scored as high ○. Double-clicking a place asks to sort the criterion again, read there.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from esmc_desktop.app.result import CriterionClusters

CHOSEN, TIED = "●", "○"
MAX_ROWS_SHOWN = 14  # a 32-block model scrolls; the demo model's 4 blocks take only their room


def token_label(piece: str) -> str:
    """A prompt token as a column title: spaces kept visible, a line break shown as ⏎."""
    return piece.replace("\n", "⏎").replace(" ", "·") or "∅"


class PlaceMap(QTableWidget):
    """Blocks (deepest on top) by the prompt's tokens after the image; emits (block, position) to re-read."""

    place_chosen = Signal(int, int)

    def __init__(self, crit: CriterionClusters) -> None:
        loc = crit.reading.localization
        tokens = crit.reading.prompt_tokens
        scores = loc.counts
        super().__init__(scores.shape[0], scores.shape[1])
        self.setAccessibleName(f"Where {crit.text} can be read: model blocks by prompt tokens")
        self.setToolTip("Double-click a place to sort this criterion again, read there")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalHeaderLabels([token_label(tokens[p]) if p < len(tokens) else str(p)
                                        for p in range(scores.shape[1])])
        n_layers = scores.shape[0]
        self.setVerticalHeaderLabels([f"block {n_layers - 1 - row}" for row in range(n_layers)])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setDefaultSectionSize(16)
        top = float(scores.max()) if scores.size and scores.max() > 0 else 1.0
        ties = set(loc.ties) | {(loc.layer, loc.position)}
        for layer in range(n_layers):
            for position in range(scores.shape[1]):
                share = max(float(scores[layer, position]), 0.0) / top
                mark = CHOSEN if (layer, position) == (loc.layer, loc.position) else \
                    TIED if (layer, position) in ties else ""
                item = QTableWidgetItem(mark)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(QColor.fromHsvF(0.6, share, 1.0 - 0.35 * share)))
                item.setForeground(QBrush(QColor("white" if share > 0.5 else "black")))
                place = tokens[position] if position < len(tokens) else str(position)
                item.setToolTip(f"block {layer}, token {place!r}: score {scores[layer, position]:.2f}; "
                                f"{loc.place_text(layer, position)}".rstrip("; "))
                item.setData(Qt.ItemDataRole.UserRole, (layer, position))
                self.setItem(n_layers - 1 - layer, position, item)
        self.cellDoubleClicked.connect(self._chosen)
        rows = self.verticalHeader().defaultSectionSize() * min(n_layers, MAX_ROWS_SHOWN)
        self.setFixedHeight(rows + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2)

    def place_at(self, row: int, column: int) -> tuple[int, int]:
        """The (block, position) a cell stands for."""
        return tuple(self.item(row, column).data(Qt.ItemDataRole.UserRole))

    def cell_of(self, layer: int, position: int) -> tuple[int, int]:
        """The (row, column) of a place."""
        return self.rowCount() - 1 - layer, position

    def _chosen(self, row: int, column: int) -> None:
        self.place_chosen.emit(*self.place_at(row, column))


def choices_text(crit: CriterionClusters) -> str:
    """Why this many clusters, and which keywords the model cannot tell apart: plain text for the details."""
    lines = list(crit.reading.keyword_notes)
    scores = crit.k_scores
    if scores:
        tried = ", ".join(f"{k}: {score:.2f}" for k, score in scores.items())
        values = crit.reading.criterion.values or ()
        found = crit.sorted_into - len(values)
        where = " found among the photos that read none of the values" if values else ""
        lines.append(f"{found} clusters{where}, chosen automatically: the highest silhouette of k-means on "
                     f"the lens vectors (how much closer each photo is to its own cluster than to the next); "
                     f"tried {tried}")
    return "\n".join(lines)
