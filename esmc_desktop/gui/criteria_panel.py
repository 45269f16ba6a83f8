"""The criteria the photos are sorted by: type one (clusters, keywords or values), add, edit, remove, ask for keywords."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLineEdit, QListWidget, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from esmc_desktop.app.keywords import parse_keywords
from esmc_desktop.app.sort import OTHER, Criterion
from esmc_desktop.gui.value_chips import ValueChips

CRITERION_ROLE = Qt.ItemDataRole.UserRole + 2


def describe(criterion: Criterion) -> str:
    """'color of the car  (4 clusters; keywords: red, blue; read at block 26, token #5)', or with values
    'the place  (values: beach, city, other, + the rest found)'."""
    words = f"; keywords: {', '.join(criterion.keywords)}" if criterion.keywords else ""
    place = f"; read at block {criterion.target[0]}, token {criterion.target[1]}" if criterion.target else ""
    if criterion.values:
        found = ", + the rest found" if criterion.discover else ""
        return f"{criterion.text}  (values: {', '.join(criterion.values)}, {OTHER}{found}{place})"
    return f"{criterion.text}  ({criterion.k if criterion.k else 'auto'} clusters{words}{place})"


class CriteriaPanel(QWidget):
    """Owns the list of criteria; says what happened through signals (the window words the status line)."""

    changed = Signal()  # a criterion was added, changed or removed
    suggest_requested = Signal(str)  # the typed criterion, for the model's keywords
    message = Signal(str)  # a sentence for the status line
    refused = Signal(str)  # a mistake, in a sentence

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editing: int | None = None
        self.criterion_edit = QLineEdit(placeholderText='e.g. "color of the car"')
        self.criterion_edit.setAccessibleName("New criterion")
        self.criterion_edit.returnPressed.connect(self.add_criterion)
        self.k_spin = QSpinBox(minimum=0, maximum=50, specialValueText="auto")
        self.k_spin.setToolTip("Number of clusters; auto chooses it from the photos")
        self.k_spin.setAccessibleName("Number of clusters")
        self.keywords_edit = QLineEdit(placeholderText="optional: red, green, blue…")
        self.keywords_edit.setAccessibleName("Keywords of the new criterion")
        self.keywords_edit.setToolTip("Words the criterion's values are likely to be; they only guide where the "
                                      "model is read, they are not labels. Empty: the model names them")
        self.values = ValueChips()
        self.suggest_button = QPushButton("S&uggest", clicked=self._suggest)
        self.suggest_button.setToolTip("Ask the model for the usual values of the criterion")
        self.add_button = QPushButton("&Add", clicked=self.add_criterion)
        self.add_button.setToolTip("Add the criterion to the list (Enter)")
        self.criteria_list = QListWidget()
        self.criteria_list.setAccessibleName("Criteria")
        self.criteria_list.setToolTip("Double-click a criterion to edit it; Delete removes it")
        self.criteria_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.criteria_list.addAction(QAction("Edit criterion", self.criteria_list, triggered=self.edit_selected))
        self.criteria_list.addAction(QAction("Remove criterion", self.criteria_list, triggered=self.remove_selected,
                                             shortcut=QKeySequence.StandardKey.Delete))
        self.criteria_list.itemDoubleClicked.connect(self.edit_selected)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Criterion:", self.criterion_edit)
        row = QHBoxLayout()
        row.addWidget(self.keywords_edit, 1)
        row.addWidget(self.suggest_button)
        form.addRow("Keywords:", row)
        form.addRow("Values:", self.values)
        row = QHBoxLayout()
        row.addWidget(self.k_spin)
        row.addStretch(1)
        row.addWidget(self.add_button)
        form.addRow("Clusters:", row)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(form)
        box.addWidget(self.criteria_list, 1)

    def criteria(self) -> list[Criterion]:
        return [self.criteria_list.item(i).data(CRITERION_ROLE) for i in range(self.criteria_list.count())]

    def add_criterion(self) -> None:
        """Add what the fields say as a criterion, or, while one is being edited, put it back changed."""
        text = self.criterion_edit.text().strip()
        if not text:
            return
        if any(c.text == text for i, c in enumerate(self.criteria()) if i != self._editing):
            self.refused.emit(f"'{text}' is already a criterion")
            return
        before = self.criteria()[self._editing] if self._editing is not None else None
        keywords, values = tuple(parse_keywords(self.keywords_edit.text())) or None, self.values.values() or None
        if values and keywords:
            self.refused.emit(f"'{text}' has both keywords and values: its values are also the words the model is "
                              f"read with, so give only the values")
            return
        if values and self.k_spin.value():
            self.refused.emit(f"'{text}' has values, so its clusters are the values and '{OTHER}': set Clusters "
                              f"to auto")
            return
        criterion = Criterion(text, self.k_spin.value() or None, keywords,
                              before.target if before is not None and before.text == text else None,
                              values, bool(values) and self.values.discover.isChecked())
        if self._editing is not None:
            item = self.criteria_list.item(self._editing)
            item.setText(describe(criterion))
            self._stop_editing()
        else:
            self.criteria_list.addItem(describe(criterion))
            item = self.criteria_list.item(self.criteria_list.count() - 1)
        item.setData(CRITERION_ROLE, criterion)
        self.criterion_edit.clear()
        self.keywords_edit.clear()
        self.values.clear()
        self.k_spin.setValue(0)
        self.changed.emit()

    def set_target(self, text: str, target: tuple[int, str] | None) -> None:
        """Read criterion `text` at (block, token) from now on (None: where the model's readings say)."""
        for i in range(self.criteria_list.count()):
            item = self.criteria_list.item(i)
            criterion = item.data(CRITERION_ROLE)
            if criterion.text == text:
                criterion = dataclasses.replace(criterion, target=target)
                item.setData(CRITERION_ROLE, criterion)
                item.setText(describe(criterion))
                self.changed.emit()

    def edit_selected(self, *_) -> None:
        """Put the selected criterion back into the fields; Add becomes Update."""
        row = self.criteria_list.currentRow()
        if row < 0:
            return
        criterion = self.criteria()[row]
        self._editing = row
        self.criterion_edit.setText(criterion.text)
        self.k_spin.setValue(criterion.k or 0)
        self.keywords_edit.setText(", ".join(criterion.keywords or ()))
        self.values.set_values(criterion.values, criterion.discover)
        self.add_button.setText("&Update")
        self.criterion_edit.setFocus()
        self.message.emit(f"Editing '{criterion.text}': change it and press Update.")

    def remove_selected(self) -> None:
        for item in self.criteria_list.selectedItems():
            self.criteria_list.takeItem(self.criteria_list.row(item))
        if self._editing is not None:  # its row may have moved: the fields become a new criterion
            self._stop_editing()
        self.changed.emit()

    def _stop_editing(self) -> None:
        self._editing = None
        self.add_button.setText("&Add")

    def _suggest(self) -> None:
        text = self.criterion_edit.text().strip()
        if not text:
            self.refused.emit("Type a criterion first, then ask for keywords.")
            return
        self.suggest_button.setEnabled(False)
        self.message.emit(f"Asking the model for keywords of '{text}'…")
        self.suggest_requested.emit(text)

    def show_suggestion(self, text: str, words: list[str]) -> None:
        """The model's keywords for `text` go into the keywords field."""
        self.keywords_edit.setText(", ".join(words))
        self.message.emit(f"The model suggests {len(words)} keywords for '{text}'." if words else
                          f"The model named no keywords for '{text}'; type some, or leave it empty.")

    def suggestion_done(self) -> None:
        self.suggest_button.setEnabled(True)
