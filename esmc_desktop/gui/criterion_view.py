"""One criterion's result: its clusters on the left; on the right their overview as cards, or one cluster's photos.

Above them a line in plain words (what the photos were grouped by), a warning a person can act
on when the model found little to go on, and, behind Details, where in the model the criterion
is read and why there. Under the clusters: New cluster (a drop target), Apply corrections /
Undo learning, and two review lists the grid can show instead of a cluster: the photos the
last learning step moved (from → to) and the photos in doubt, each with its runner-up cluster.
"""

from __future__ import annotations

import html
import math
from collections import Counter

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidgetItem, QMenu, QPushButton, QSplitter, QStackedWidget,
                               QToolButton, QVBoxLayout, QWidget)

from esmc_desktop.app.result import CriterionClusters, SortResult
from esmc_desktop.app.review import Doubt, photos_in_doubt
from esmc_desktop.gui.cluster_cards import ClusterCards
from esmc_desktop.gui.cluster_list import CLUSTER_ROLE, COUNT_ROLE, ClusterList, CountDelegate, NewClusterTarget
from esmc_desktop.gui.learn_panel import CHANGED, UNCERTAIN, LearnPanel, changed_header, uncertain_header
from esmc_desktop.gui.learning import Changes
from esmc_desktop.gui.photo_grid import PhotoGrid
from esmc_desktop.gui.photo_model import PHOTO_ROLE
from esmc_desktop.gui.photo_texts import (confidence_text, keywords_text, lens_text, no_confidence_text, plain_line,
                                         warning_text, where_read_text)
from esmc_desktop.gui.photo_viewer import PhotoViewer
from esmc_desktop.gui.place_map import PlaceMap, choices_text

OVERVIEW, PHOTOS = 0, 1  # the pages on the right


class CriterionView(QWidget):
    """Shows; edits go out as signals to the window, which changes the SortResult and refreshes."""

    rename_requested = Signal(int, str)  # cluster, new name
    move_requested = Signal(list, int)  # photo indices, cluster
    new_cluster_requested = Signal(list)  # photo indices to start a new cluster with
    remove_requested = Signal(int)  # an empty cluster
    make_value_requested = Signal(int)  # a discovered cluster (or `other`) to become a value
    merge_requested = Signal(int, int)  # a discovered cluster (or `other`), the value it joins
    apply_requested = Signal()
    undo_requested = Signal()
    resort_all_requested = Signal()
    thumbnails_wanted = Signal(list)  # Photos on screen (and a screenful either side)
    reread_requested = Signal(int, int)  # sort this criterion again, read at (block, prompt position)

    def __init__(self, result: SortResult, criterion: int, icons: dict[str, QIcon]) -> None:
        super().__init__()
        self.result, self.index = result, criterion
        self.changes: Changes | None = None  # the last learning step still in force
        self.reviewing: str | None = None  # CHANGED or UNCERTAIN while the grid shows a review list
        self.learning = False
        self._row: int | None = None  # the cluster shown last; None: the overview
        self.doubts: dict[int, Doubt] = {}  # photo -> its doubt, while Least certain is shown
        self.viewer: PhotoViewer | None = None
        crit = result.criterion(criterion)
        self.photos = PhotoGrid(result.photos, icons, criterion, texts=self)
        self.model = self.photos.model
        self.photos.setAccessibleName(f"Photos of the selected cluster by {crit.text}")
        self.photos.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.photos.customContextMenuRequested.connect(self._photo_menu)
        self.photos.thumbnails_wanted.connect(self.thumbnails_wanted)
        self.photos.open_requested.connect(self.open_photo)
        self.photos.installEventFilter(self)
        self.cards = ClusterCards(criterion, result.photos, icons)
        self.cards.setAccessibleName(f"Clusters by {crit.text} at a glance")
        self.cards.opened.connect(self.open_cluster)
        self.cards.renamed.connect(self._card_renamed)
        self.cards.photos_dropped.connect(self.move_requested)
        self.cards.menu_requested.connect(lambda cluster, where: self.cluster_menu(cluster).exec(where))
        self.cards.cluster_dropped.connect(self.merge_requested)
        self.cards.thumbnails_wanted.connect(self.thumbnails_wanted)
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
        self.learn.resort_all_button.clicked.connect(self.resort_all_requested)
        self.learn.review_chosen.connect(self.show_review)
        self.photos.selectionModel().currentChanged.connect(self._show_photo)
        self.summary = QLabel(wordWrap=True)
        self.summary.setAccessibleName(f"What {crit.text} grouped the photos by")
        self.warning = QLabel(wordWrap=True)
        self.warning.setAccessibleName("What to try")
        self.warning.setStyleSheet("color: #b35c00")
        self.details_button = QToolButton(text="Details", checkable=True)
        self.details_button.setToolTip("Where in the model the criterion is read, and why there")
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.toggled.connect(self._toggle_details)
        self.where = QLabel(self.where_text())
        self.where.setWordWrap(True)
        self.where.setTextFormat(Qt.TextFormat.RichText)  # where_read_text escapes the model's words
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where.setAccessibleName(f"Where {crit.text} is read in the model, and why there")
        self.where.setVisible(False)
        self.choices = QLabel(choices_text(crit), wordWrap=True)
        self.choices.setAccessibleName(f"Why {crit.text} has this many clusters, and keywords the model confuses")
        self.choices.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choices.setVisible(False)
        self.place_map = PlaceMap(crit)
        self.place_map.place_chosen.connect(self.reread_requested)
        self.place_map.setVisible(False)
        self.back = QPushButton("← All clusters", clicked=self.show_overview)
        self.back.setToolTip("The clusters at a glance (Backspace)")
        self.back.setShortcut("Backspace")
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Why these photos belong together")
        self.photo_why = QLabel("Select a photo to see what the model read in it; Space shows it large.")
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
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.back)
        top.addWidget(self.why, 1)
        box.addLayout(top)
        box.addWidget(self.photos, 1)
        box.addWidget(self.photo_why)
        box.addWidget(self.photo_keywords)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.cards)
        self.pages.addWidget(page)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.pages)
        split.setStretchFactor(1, 1)
        split.setSizes([190, 710])
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.warning)
        layout.addWidget(self.where)
        layout.addWidget(self.choices)
        layout.addWidget(self.place_map)
        layout.addWidget(split, 1)
        self.refresh()

    @property
    def crit(self) -> CriterionClusters:
        return self.result.criterion(self.index)

    def refresh(self) -> None:
        """Rebuild the clusters (list and cards) from the result; show again what was shown."""
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
        self.cards.show_clusters(self.crit)
        self.summary.setText(plain_line(self.crit))
        self.warning.setText(warning_text(self.crit))
        self.warning.setVisible(bool(self.warning.text()))
        self._show_learning()
        if self.reviewing:
            self.show_review(self.reviewing)
        elif self._row is None:
            self.show_overview()
        else:
            self.clusters.setCurrentRow(min(self._row, self.clusters.count() - 1))
            self._show_cluster(self.clusters.currentRow())

    def show_overview(self) -> None:
        """Every cluster as a card (what a finished sort shows first)."""
        self.reviewing, self._row = None, None
        self.clusters.blockSignals(True)
        self.clusters.setCurrentRow(-1)
        self.clusters.blockSignals(False)
        self.learn.select(None)
        self.photos.show_photos([])
        self.pages.setCurrentIndex(OVERVIEW)

    def open_cluster(self, cluster: int) -> None:
        """Show one cluster's photos (a click on its card, or on its name in the list)."""
        self.clusters.blockSignals(True)
        self.clusters.setCurrentRow(cluster)
        self.clusters.blockSignals(False)
        self._show_cluster(cluster)

    def _toggle_details(self, shown: bool) -> None:
        self.where.setVisible(shown)
        self.choices.setVisible(shown and bool(self.choices.text()))
        self.place_map.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _show_cluster(self, row: int) -> None:
        if row < 0:
            return
        self.reviewing, self._row = None, row
        self.learn.select(None)
        members = self.crit.members(row)
        self.pages.setCurrentIndex(PHOTOS)  # first: the grid is laid out once, at the size it is shown at
        self.photos.show_photos(members)
        words = self.crit.explanations[row] if row < len(self.crit.explanations) else []
        self.why.setText(f"<b>{html.escape(self.crit.names[row])}</b>: {len(members):,} photos"
                         + (f" · words: {html.escape(', '.join(words))}" if words else "")
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
        self.pages.setCurrentIndex(PHOTOS)
        if key == CHANGED:
            self.doubts = {}
            self.photos.show_photos(sorted(self.changes.moved) if self.changes else [])
            self.why.setText(changed_header(self.changes))
        else:
            doubts = photos_in_doubt(self.result, self.index)
            self.doubts = {d.photo: d for d in doubts}
            self.photos.show_photos(list(self.doubts))
            self.why.setText(uncertain_header(self.crit, doubts))

    def least_certain_photos(self) -> list[int]:
        """The photos in doubt (app.review), least certain first; photos the user placed are not asked about."""
        return [d.photo for d in photos_in_doubt(self.result, self.index)]

    def move_to_runner_up(self) -> None:
        """Move the selected photos of Least certain each to its runner-up cluster (the R key)."""
        by_target: dict[int, list[int]] = {}
        for photo in self.photos.selected_photos():
            if photo in self.doubts:
                by_target.setdefault(self.doubts[photo].runner_up, []).append(photo)
        for cluster, photos in by_target.items():
            self.move_requested.emit(photos, cluster)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Keys on the grid: R moves photos in doubt to their runner-up; 1-9 move the selection to that cluster."""
        if watched is self.photos and event.type() == QEvent.Type.KeyPress and not self.learning:
            chosen = self.photos.selected_photos()
            if event.key() == Qt.Key.Key_R and self.reviewing == UNCERTAIN and chosen:
                self.move_to_runner_up()
                return True
            number = event.key() - Qt.Key.Key_1
            if 0 <= number < min(9, len(self.crit.names)) and chosen and not event.modifiers():
                self.move_requested.emit(chosen, number)
                return True
        return super().eventFilter(watched, event)

    def _uncertain_count(self) -> int:
        return len(photos_in_doubt(self.result, self.index))

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
        if self.reviewing == UNCERTAIN and photo in self.doubts:
            value = crit.confidences[photo]
            name = crit.names[crit.labels[photo]]
            runner_up = crit.names[self.doubts[photo].runner_up]
            return f"{name} or {runner_up}" if math.isnan(value) else f"{name} {value:.2f} or {runner_up}"
        return self.result.photos[photo].path.name

    def tooltip(self, photo: int) -> str:
        crit = self.crit
        lines = [str(self.result.photos[photo].path),
                 f"In {crit.names[crit.labels[photo]]}: {confidence_text(crit, photo)}"]
        if self.changes and photo in self.changes.moved:
            lines.append("Moved by learning: {} → {}".format(*self.changes.moved[photo]))
        if self.reviewing == UNCERTAIN and photo in self.doubts:
            doubt = self.doubts[photo]
            odds = "" if math.isnan(doubt.odds) else f", {doubt.odds:.0%} as likely"
            lines.append(f"Runner-up: {crit.names[doubt.runner_up]}{odds} (R moves it there; 1-9 to a cluster)")
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

    def open_photo(self, photo: int) -> PhotoViewer:
        """The photo large, among the photos shown (arrow keys move through them), with its cluster and keywords."""
        if self.viewer is not None:
            self.viewer.deleteLater()  # one large view at a time
        self.viewer = PhotoViewer(self.result.photos, self.shown_photos(), photo, self.viewer_text, self)
        self.viewer.open()
        return self.viewer

    def viewer_text(self, photo: int) -> str:
        """Under the large photo: its cluster and confidence, its keywords, and what the model read in it."""
        crit = self.crit
        return (f"<b>{html.escape(self.result.photos[photo].path.name)}</b> · cluster "
                f"<b>{html.escape(crit.names[crit.labels[photo]])}</b> · "
                f"{html.escape(confidence_text(crit, photo))}<br>{self.keywords_text(photo)}")

    def want_thumbnails(self) -> None:
        """Ask again for the thumbnails on screen (the mosaics and the grid), e.g. once the view is connected."""
        self.thumbnails_wanted.emit(self.cards.mosaic_photos())
        self.photos.want_visible()

    def set_thumbnail_size(self, side: int) -> None:
        self.photos.set_thumbnail_size(side)

    def keywords_text(self, photo: int) -> str:
        return keywords_text(self.result, photo)

    def photo_text(self, photo: int) -> str:
        return lens_text(self.result, self.index, photo)

    def where_text(self) -> str:
        return where_read_text(self.crit)

    def thumbnail_ready(self, sha: str) -> None:
        self.photos.thumbnail_ready(sha)
        self.cards.thumbnail_ready(sha)

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

    def _card_renamed(self, cluster: int, name: str) -> None:
        if name != self.crit.names[cluster]:
            self.rename_requested.emit(cluster, name)

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
        if self.reviewing == UNCERTAIN and any(p in self.doubts for p in chosen):
            menu.addAction("Move to the runner-up", self.move_to_runner_up).setShortcut("R")
        for k, name in enumerate(self.crit.names):
            if self.reviewing or k != self.clusters.currentRow():
                action = menu.addAction(f"Move to {name}", lambda k=k: self.move_requested.emit(chosen, k))
                if k < 9:
                    action.setShortcut(str(k + 1))  # shown in the menu; the grid takes the key itself
        menu.addAction("Move to a new cluster", lambda: self.new_cluster_requested.emit(chosen))
        return menu

    def _cluster_menu(self, pos) -> None:
        item = self.clusters.itemAt(pos)
        if item is not None:
            self.cluster_menu(item.data(CLUSTER_ROLE)).exec(self.clusters.viewport().mapToGlobal(pos))

    def cluster_menu(self, cluster: int) -> QMenu:
        """A cluster's context menu: Remove, once the user has moved all its photos out; with named values, a
        cluster the sort found (or `other`) can be made a value or merged into one (Merge into value ▸)."""
        menu = QMenu(self)
        crit = self.crit
        name, held = crit.names[cluster], len(crit.members(cluster))
        if crit.values and not crit.is_value(cluster):
            menu.addAction("Make it a value", lambda: self.make_value_requested.emit(cluster))
            merge = menu.addMenu("Merge into value")
            for k, value in enumerate(crit.names):
                if crit.is_value(k):
                    merge.addAction(value, lambda k=k: self.merge_requested.emit(cluster, k))
            merge.setEnabled(not merge.isEmpty())
            menu.addSeparator()
        action = menu.addAction(f"Remove {name}" if not held else f"Remove {name} (move its {held} photos out first)",
                                lambda: self.remove_requested.emit(cluster))
        action.setEnabled(not held)
        return menu
