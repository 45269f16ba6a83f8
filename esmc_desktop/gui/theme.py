"""Light or dark: the system's choice by default, or the user's.

Qt follows the system's colour scheme by itself where the platform tells it
(Windows 11, macOS, GNOME and KDE with their platform themes). Where it cannot,
or where the user picks a scheme that differs from the system's, we set a Fusion
palette for it. The window never hard-codes a colour, so every widget follows.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

Role, Group = QPalette.ColorRole, QPalette.ColorGroup

DARK = {
    Role.Window: "#2b2b2e", Role.WindowText: "#e6e6e6", Role.Base: "#1e1e20", Role.AlternateBase: "#2f2f33",
    Role.ToolTipBase: "#3a3a3e", Role.ToolTipText: "#e6e6e6", Role.PlaceholderText: "#8c8c8c",
    Role.Text: "#e6e6e6", Role.Button: "#38383c", Role.ButtonText: "#e6e6e6", Role.BrightText: "#ff6b6b",
    Role.Light: "#4a4a4f", Role.Midlight: "#404045", Role.Mid: "#2a2a2d", Role.Dark: "#1a1a1c",
    Role.Shadow: "#000000", Role.Highlight: "#3d7bd9", Role.HighlightedText: "#ffffff",
    Role.Link: "#7fb2ff", Role.LinkVisited: "#c39bff",
}
DARK_DISABLED = {Role.WindowText: "#7a7a7a", Role.Text: "#7a7a7a", Role.ButtonText: "#7a7a7a",
                 Role.HighlightedText: "#bdbdbd", Role.Highlight: "#3a3a3e"}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QColor(colour))
    for role, colour in DARK_DISABLED.items():
        palette.setColor(Group.Disabled, role, QColor(colour))
    return palette


class Theme:
    """Applies 'system', 'light' or 'dark' to the running application, and can go back to the system's."""

    def __init__(self, app: QApplication) -> None:
        self.app = app
        self.system_style = app.style().name()
        self.system_palette = QPalette(app.palette())

    def apply(self, choice: str) -> None:
        hints = QGuiApplication.styleHints()
        if choice == "system":
            hints.unsetColorScheme()
            self.app.setStyle(self.system_style)
            self.app.setPalette(self.system_palette)
            return
        wanted = Qt.ColorScheme.Dark if choice == "dark" else Qt.ColorScheme.Light
        hints.setColorScheme(wanted)
        if hints.colorScheme() == wanted:
            return  # the platform switched its own palette
        self.app.setStyle("Fusion")
        self.app.setPalette(dark_palette() if choice == "dark" else self.app.style().standardPalette())

    def is_dark(self) -> bool:
        palette = self.app.palette()
        return palette.color(Role.Window).lightness() < palette.color(Role.WindowText).lightness()
