"""A criterion's named values as chips: type a value and press Enter (or a comma), click a chip to take it back.

Values decide the folders (every photo goes into one of them, or `other`); "Find the rest" also clusters and
names the photos that read none of them. Values are read as `--values` reads them (phrases and digits kept).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit, QToolButton, QWidget

from esmc_desktop.app.keywords import parse_keywords
from esmc_desktop.app.sort import OTHER  # always there: typing it adds nothing


class ValueChips(QWidget):
    """Chips for the values typed so far, the field to type the next one, and the "Find the rest" switch."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values: list[str] = []
        self.chips: list[QToolButton] = []
        self.edit = QLineEdit(placeholderText="optional: beach, mountains, city… (Enter adds)")
        self.edit.setAccessibleName("Values of the new criterion")
        self.edit.setToolTip("The folders you want: every photo goes into one of these values, or into 'other' "
                             "when it shows none of them. Keywords only guide; values decide")
        self.edit.returnPressed.connect(self.take_typed)
        self.edit.textEdited.connect(self._on_edited)
        self.discover = QCheckBox("Find the rest")
        self.discover.setToolTip("Also sort the photos that show none of the values into clusters found and "
                                 "named from the photos")
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addWidget(self.edit, 1)
        self._row.addWidget(self.discover)

    def values(self) -> tuple[str, ...]:
        """The chips' values, and what is still typed in the field."""
        typed = [v for v in parse_keywords(self.edit.text()) if v.casefold() not in self._folded()]
        return tuple(self._values + [v for v in typed if v.casefold() != OTHER])

    def set_values(self, values: tuple[str, ...] | None, discover: bool = False) -> None:
        for chip in self.chips:
            chip.deleteLater()
        self.chips, self._values = [], []
        self.edit.clear()
        for value in values or ():
            self._add(value)
        self.discover.setChecked(discover)
        self.changed.emit()

    def clear(self) -> None:
        self.set_values(None)

    def take_typed(self) -> None:
        """What is typed becomes chips (one per comma-separated value)."""
        for value in parse_keywords(self.edit.text()):
            if value.casefold() != OTHER and value.casefold() not in self._folded():
                self._add(value)
        self.edit.clear()
        self.changed.emit()

    def remove(self, value: str) -> None:
        i = self._values.index(value)
        self._values.pop(i)
        self.chips.pop(i).deleteLater()
        self.changed.emit()

    def _folded(self) -> set[str]:
        return {v.casefold() for v in self._values}

    def _on_edited(self, text: str) -> None:
        if "," in text:
            self.take_typed()

    def _add(self, value: str) -> None:
        chip = QToolButton(text=f"{value}  ✕")
        chip.setAccessibleName(f"Value {value}")
        chip.setToolTip(f"Click to take '{value}' out of the values")
        chip.clicked.connect(lambda _=False, v=value: self.remove(v))
        self._row.insertWidget(len(self.chips), chip)
        self.chips.append(chip)
        self._values.append(value)
