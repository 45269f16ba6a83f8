"""What the window shows before there are photos: what to do first, and criteria to try with one click."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

# Criteria a person sorting their own photos might start with, with the values they expect (editable after).
EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("where was this photo taken", ("beach", "city", "forest", "mountain", "home")),
    ("color of the car", ("red", "white", "black", "blue", "silver")),
    ("species of the flower", ("rose", "tulip", "sunflower", "daisy", "orchid")),
    ("time of day", ("morning", "noon", "evening", "night")),
)


class EmptyState(QWidget):
    """'Open a folder of photos' and example criteria; the window acts on the signals."""

    open_requested = Signal()
    example_chosen = Signal(str, tuple)  # criterion, keywords

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Getting started")
        title = QLabel("<h2>Sort your photos by what you care about</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        steps = QLabel("1. Open a folder of photos (its subfolders too; nothing in it is changed).<br>"
                       "2. Say what to sort by: type a criterion at the left, or click an example below.<br>"
                       "3. Sort photos (Ctrl+R), look at the groups, rename them, move what is wrong, "
                       "then Export.")
        steps.setAlignment(Qt.AlignmentFlag.AlignCenter)
        steps.setWordWrap(True)
        self.open_button = QPushButton("Open a folder of photos…", clicked=self.open_requested)
        self.open_button.setDefault(True)
        self.open_button.setMinimumHeight(36)
        examples = QLabel("Examples of criteria:")
        examples.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        row.addStretch(1)
        self.example_buttons = []
        for text, words in EXAMPLES:
            button = QPushButton(text, clicked=lambda _=False, t=text, w=words: self.example_chosen.emit(t, w))
            button.setToolTip(f"Add '{text}' (values such as {', '.join(words)}) to the criteria")
            row.addWidget(button)
            self.example_buttons.append(button)
        row.addStretch(1)
        opening = QHBoxLayout()
        opening.addStretch(1)
        opening.addWidget(self.open_button)
        opening.addStretch(1)
        box = QVBoxLayout(self)
        box.addStretch(2)
        box.addWidget(title)
        box.addWidget(steps)
        box.addSpacing(16)
        box.addLayout(opening)
        box.addSpacing(24)
        box.addWidget(examples)
        box.addLayout(row)
        box.addStretch(3)
