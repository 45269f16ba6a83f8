"""The window's menu bar: File, Edit, Clusters, Model, View, Help; the actions call the window's public methods."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow

from esmc_desktop.gui.learn_panel import CHANGED, RESORT_ALL_TIP, UNCERTAIN
from esmc_desktop.gui.preferences import THEMES


class Menus:
    """Builds the menus on `window`; keeps the actions whose state the window changes."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        bar = window.menuBar()
        file = bar.addMenu("&File")
        file.addAction(QAction("&Open photo folder…", window, shortcut=QKeySequence.StandardKey.Open,
                               triggered=window.folder_panel.browse))
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        file.addAction(QAction("&Quit", window, shortcut=QKeySequence.StandardKey.Quit, triggered=window.close))
        edit = bar.addMenu("&Edit")
        self.undo_action = QAction("&Undo move or tags export", window, enabled=False, triggered=window.undo_last_move)
        self.undo_action.setToolTip("Put the moved photos back where they were, or take the written keywords back")
        edit.addAction(self.undo_action)
        self.open_action = QAction("&Open export folder", window, enabled=False, triggered=window.open_export_folder)
        edit.addAction(self.open_action)
        self.assign_action = QAction("&Assign new photos…", window, triggered=window.assign_dialog)
        self.assign_action.setToolTip("Sort new photos into an exported result with its saved heads, "
                                      "without clustering again")
        edit.addAction(self.assign_action)
        clusters = bar.addMenu("&Clusters")
        self.apply_action = QAction("&Apply corrections", window, shortcut="Ctrl+L",
                                    triggered=lambda _=False: window.learning.apply())
        self.apply_action.setToolTip("Learn from the photos you placed in the criterion shown; re-sort the others")
        self.resort_all_action = QAction("Apply corrections and &re-sort all", window, shortcut="Ctrl+Alt+L",
                                         triggered=lambda _=False: window.learning.apply(resort="all"))
        self.resort_all_action.setToolTip(RESORT_ALL_TIP)
        self.undo_learning_action = QAction("&Undo learning", window, shortcut="Ctrl+Shift+L",
                                            triggered=lambda _=False: window.learning.undo())
        self.changed_action = QAction("Photos &changed by learning", window,
                                      triggered=lambda _=False: window.learning.show_review(CHANGED))
        self.uncertain_action = QAction("&Least certain photos", window, shortcut="Ctrl+U",
                                        triggered=lambda _=False: window.learning.show_review(UNCERTAIN))
        self.learning_actions = [self.apply_action, self.resort_all_action, self.undo_learning_action,
                                 self.changed_action, self.uncertain_action]
        for action in self.learning_actions:
            action.setEnabled(False)
            clusters.addAction(action)
        clusters.addSeparator()
        self.undo_merge_action = QAction("Undo &merge", window, enabled=False,
                                         triggered=lambda _=False: window.undo_last_merge())
        self.undo_merge_action.setToolTip("Make the cluster last merged into a value a cluster of its own again")
        clusters.addAction(self.undo_merge_action)
        model = bar.addMenu("&Model")
        model.addAction(QAction("&Model files and GPU…", window, triggered=window.model_panel.open_dialog))
        model.addAction(QAction("&Download…", window, triggered=window.open_download_dialog))
        view = bar.addMenu("&View")
        themes = QActionGroup(window)
        self.theme_actions = {}
        for choice in THEMES:
            action = QAction(f"{choice.capitalize()} theme", window, checkable=True,
                             checked=choice == window.prefs.theme(),
                             triggered=lambda _=False, c=choice: window.set_theme(c))
            themes.addAction(action)
            view.addAction(action)
            self.theme_actions[choice] = action
        bar.addMenu("&Help").addAction(QAction("Open &log folder", window, triggered=window.open_log_folder))

    def enable_learning(self, enabled: bool) -> None:
        """The Clusters menu works once there are clusters."""
        for action in self.learning_actions:
            action.setEnabled(enabled)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.window.prefs.recent_folders()
        for folder in folders:
            self.recent_menu.addAction(str(folder), lambda f=folder: self.window.open_folder(f))
        if not folders:
            self.recent_menu.addAction("No folders yet").setEnabled(False)
