"""One criterion's result: its clusters on the left, the selected cluster's photos as thumbnails on the right.

Under the clusters: New cluster (a drop target), Apply corrections / Undo learning, and two
review lists the grid can show instead of a cluster: the photos the last learning step moved
(from → to) and the least certain photos, where a correction helps most.
"""

from __future__ import annotations

import html
import math
from collections import Counter

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QListWidgetItem, QMenu, QSplitter, QVBoxLayout, QWidget

from esmc_desktop.app.learn import least_certain
from esmc_desktop.app.result import CriterionClusters, SortResult
from esmc_desktop.gui.cluster_list import CLUSTER_ROLE, COUNT_ROLE, ClusterList, CountDelegate, NewClusterTarget
from esmc_desktop.gui.learn_panel import CHANGED, UNCERTAIN, LearnPanel, changed_header, uncertain_header
from esmc_desktop.gui.learning import Changes
from esmc_desktop.gui.photo_grid import PhotoGrid
from esmc_desktop.gui.photo_model import PHOTO_ROLE
from esmc_desktop.gui.photo_texts import (confidence_text, keywords_text, lens_text, no_confidence_text,
                                         where_read_text)

# Least certain photos listed per cluster: a handful of corrections per cluster is what a
# learning step needs, and a short list is one the user can go through.
PER_CLUSTER = 5


class CriterionView(QWidget):
    """Shows; edits go out as signals to the window, which changes the SortResult and refreshes."""

    rename_requested = Signal(int, str)  # cluster, new name
    move_requested = Signal(list, int)  # photo indices, cluster
    new_cluster_requested = Signal(list)  # photo indices to start a new cluster with
    remove_requested = Signal(int)  # an empty cluster
    apply_requested = Signal()
    undo_requested = Signal()
    thumbnails_wanted = Signal(list)  # Photos on screen (and a screenful either side)

    def __init__(self, result: SortResult, criterion: int, icons: dict[str, QIcon]) -> None:
        super().__init__()
        self.result, self.index = result, criterion
        self.changes: Changes | None = None  # the last learning step still in force
        self.reviewing: str | None = None  # CHANGED or UNCERTAIN while the grid shows a review list
        self.learning = False
        self._row = 0  # the cluster shown last
        crit = result.criterion(criterion)
        self.photos = PhotoGrid(result.photos, icons, criterion, texts=self)
        self.model = self.photos.model
        self.photos.setAccessibleName(f"Photos of the selected cluster by {crit.text}")
        self.photos.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.photos.customContextMenuRequested.connect(self._photo_menu)
        self.photos.thumbnails_wanted.connect(self.thumbnails_wanted)
        self.clusters = ClusterList(criterion)
        self.clusters.setItemDelegate(CountDelegate(self.clusters))
        self.clusters.setAccessibleName(f"Clusters by {crit.text}")
        self.clusters.setToolTip("Double-click a name to rename; drop photos on a cluster to move them")
        self.clusters.currentRowChanged.connect(self._show_cluster)
        self.clusters.itemChanged.connect(self._renamed)
        self.clusters.photos_dropped.connect(self.move_requested)
        self.clusters.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.clusters.customContextMenuRequested.connect(self._cluster_menu)
        self.new_cluster = NewClusterTarget(criterion)
        self.new_cluster.photos_dropped.connect(self.new_cluster_requested)
        self.learn = LearnPanel(crit.text)
        self.learn.apply_button.clicked.connect(self.apply_requested)
        self.learn.undo_button.clicked.connect(self.undo_requested)
        self.learn.review_chosen.connect(self.show_review)
        self.photos.selectionModel().currentChanged.connect(self._show_photo)
        self.where = QLabel(self.where_text())
        self.where.setWordWrap(True)
        self.where.setTextFormat(Qt.TextFormat.RichText)  # where_read_text escapes the model's words
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where.setAccessibleName(f"Where {crit.text} is read in the model, and why there")
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Why these photos belong together")
        self.photo_why = QLabel("Select a photo to see what the model read in it.")
        self.photo_why.setWordWrap(True)
        self.photo_why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.photo_why.setAccessibleName("Why the selected photo is in this cluster")
        self.photo_keywords = QLabel()
        self.photo_keywords.setWordWrap(True)
        self.photo_keywords.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.photo_keywords.setAccessibleName("Keywords a tag export writes for the selected photo")
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.clusters, 1)
        column.addWidget(self.new_cluster)
        column.addWidget(self.learn)
        right = QWidget()
        box = QVBoxLayout(right)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.why)
        box.addWidget(self.photos, 1)
        box.addWidget(self.photo_why)
        box.addWidget(self.photo_keywords)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([250, 650])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.where)
        layout.addWidget(split, 1)
        self.refresh()

    @property
    def crit(self) -> CriterionClusters:
        return self.result.criterion(self.index)

    def refresh(self) -> None:
        """Rebuild the cluster list from the result; show again what was shown (a cluster or a review list)."""
        self.clusters.blockSignals(True)
        self.clusters.clear()
        counts = Counter(self.crit.labels)
        for k, name in enumerate(self.crit.names):
            item = QListWidgetItem(name)
            item.setData(CLUSTER_ROLE, k)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setData(COUNT_ROLE, counts[k])
            item.setToolTip(f"{counts[k]:,} photos" + ("" if counts[k] else "; right-click to remove it"))
            self.clusters.addItem(item)
        self.clusters.blockSignals(False)
        self._show_learning()
        if self.reviewing:
            self.show_review(self.reviewing)
        else:
            self.clusters.setCurrentRow(min(self._row, self.clusters.count() - 1))
            self._show_cluster(self.clusters.currentRow())

    def _show_cluster(self, row: int) -> None:
        if row >= 0:
            self.reviewing, self._row = None, row
            self.learn.select(None)
        members = self.crit.members(row) if row >= 0 else []
        self.photos.show_photos(members)
        if row < 0:
            self.why.clear()
            return
        words = self.crit.explanations[row] if row < len(self.crit.explanations) else []
        self.why.setText(f"<b>{html.escape(self.crit.names[row])}</b>: {len(members):,} photos"
                         + (f" · why: {html.escape(', '.join(words))}" if words else "")
                         + (f"<br>Note: {html.escape(self.crit.note)}" if self.crit.note else "")
                         + ("" if self.crit.weights.has_confidence
                            else f"<br>{html.escape(no_confidence_text(self.crit), quote=False)}"))

    def show_review(self, key: str) -> None:
        """Show a review list in the grid instead of a cluster: CHANGED or UNCERTAIN."""
        self.reviewing = key
        self.clusters.blockSignals(True)
        self.clusters.setCurrentRow(-1)
        self.clusters.blockSignals(False)
        self.learn.select(key)
        if key == CHANGED:
            self.photos.show_photos(sorted(self.changes.moved) if self.changes else [])
            self.why.setText(changed_header(self.changes))
        else:
            self.photos.show_photos(self.least_certain_photos())
            self.why.setText(uncertain_header(self.crit, self._uncertain_count()))

    def least_certain_photos(self) -> list[int]:
        """The photos the head is least sure of, least sure first; photos the user placed are not asked about."""
        placed = self.crit.placed
        return [p for p in least_certain(self.result, self.index) if p not in placed][:self._uncertain_count()]

    def _uncertain_count(self) -> int:
        return min(PER_CLUSTER * len(self.crit.names), len(self.crit.labels) - len(self.crit.placed))

    def show_step(self, changes: Changes | None) -> None:
        """A learning step finished (show what it changed) or was undone (None: the one before, if any)."""
        self.changes = changes
        self.refresh()
        if changes is not None:
            self.show_review(CHANGED)

    def set_learning(self, learning: bool) -> None:
        """While a step runs on a copy of the clusters, edits here would be lost: they wait."""
        self.learning = learning
        for widget in (self.clusters, self.new_cluster, self.photos, self.learn.review):
            widget.setEnabled(not learning)
        self._show_learning()

    def _show_learning(self) -> None:
        self.learn.show_state(len(self.crit.placed), self.changes, self.learning, self._uncertain_count())

    # -- what the grid says about each photo (PhotoTexts) -----------------------------------------

    def caption(self, photo: int) -> str:
        crit = self.crit
        if self.reviewing == CHANGED and self.changes and photo in self.changes.moved:
            return "{} → {}".format(*self.changes.moved[photo])
        if self.reviewing == UNCERTAIN:
            value = crit.confidences[photo]
            name = crit.names[crit.labels[photo]]
            return name if math.isnan(value) else f"{name} {value:.2f}"
        return self.result.photos[photo].path.name

    def tooltip(self, photo: int) -> str:
        crit = self.crit
        lines = [str(self.result.photos[photo].path),
                 f"In {crit.names[crit.labels[photo]]}: {confidence_text(crit, photo)}"]
        if self.changes and photo in self.changes.moved:
            lines.append("Moved by learning: {} → {}".format(*self.changes.moved[photo]))
        return "\n".join(lines)

    def placed(self, photo: int) -> bool:
        return photo in self.crit.placed

    # -- the selected photo ------------------------------------------------------------------------

    def _show_photo(self, index) -> None:
        if not index.isValid():
            self.photo_why.setText("Select a photo to see what the model read in it.")
            self.photo_keywords.clear()
            return
        photo = index.data(PHOTO_ROLE)
        self.photo_why.setText(self.photo_text(photo))
        self.photo_keywords.setText(self.keywords_text(photo))

    def keywords_text(self, photo: int) -> str:
        return keywords_text(self.result, photo)

    def photo_text(self, photo: int) -> str:
        return lens_text(self.result, self.index, photo)

    def where_text(self) -> str:
        return where_read_text(self.crit)

    def thumbnail_ready(self, sha: str) -> None:
        self.photos.thumbnail_ready(sha)

    def shown_photos(self) -> list[int]:
        return list(self.model.rows)

    def select_photos(self, rows: list[int]) -> None:
        """Select photos of the shown cluster by row (what a click or rubber band does)."""
        selection = self.photos.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(self.model.index(row), selection.SelectionFlag.Select)

    def _renamed(self, item: QListWidgetItem) -> None:
        self.rename_requested.emit(item.data(CLUSTER_ROLE), item.text())

    # -- context menus -----------------------------------------------------------------------------

    def _photo_menu(self, pos) -> None:
        menu = self.move_menu()
        if menu is not None:
            menu.exec(self.photos.viewport().mapToGlobal(pos))

    def move_menu(self) -> QMenu | None:
        """The selected photos' context menu: 'Move to' each other cluster, or to a new one (None: no selection)."""
        chosen = self.photos.selected_photos()
        if not chosen:
            return None
        menu = QMenu(self)
        for k, name in enumerate(self.crit.names):
            if self.reviewing or k != self.clusters.currentRow():
                menu.addAction(f"Move to {name}", lambda k=k: self.move_requested.emit(chosen, k))
        menu.addAction("Move to a new cluster", lambda: self.new_cluster_requested.emit(chosen))
        return menu

    def _cluster_menu(self, pos) -> None:
        item = self.clusters.itemAt(pos)
        if item is not None:
            self.cluster_menu(item.data(CLUSTER_ROLE)).exec(self.clusters.viewport().mapToGlobal(pos))

    def cluster_menu(self, cluster: int) -> QMenu:
        """A cluster's context menu: Remove, once the user has moved all its photos out."""
        menu = QMenu(self)
        name, held = self.crit.names[cluster], len(self.crit.members(cluster))
        action = menu.addAction(f"Remove {name}" if not held else f"Remove {name} (move its {held} photos out first)",
                                lambda: self.remove_requested.emit(cluster))
        action.setEnabled(not held)
        return menu
