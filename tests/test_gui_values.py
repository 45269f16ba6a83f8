"""Named values in the window: typed as chips in the criterion editor, sorted into, `other` for the rest."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from esmc_desktop.gui.criteria_panel import CriteriaPanel  # noqa: E402
from esmc_desktop.gui.main_window import MainWindow  # noqa: E402
from esmc_desktop.mllm.registry import DEMO_DIR, DEMO_FILES  # noqa: E402
from esmc_desktop.engine.settings import ComputeRequest  # noqa: E402
from tests.test_gui import own_settings  # noqa: E402,F401 (the window's settings stay in the test's folder)

COLOR = "color of the object"


@pytest.fixture
def panel(qtbot):
    p = CriteriaPanel()
    qtbot.addWidget(p)
    return p


def test_values_are_typed_as_chips_taken_back_with_a_click_and_become_the_criterions(panel):
    panel.criterion_edit.setText("the place")
    panel.values.edit.setText("beach, Mountains, other")
    panel.values.edit.returnPressed.emit()
    assert [c.text() for c in panel.values.chips] == ["beach  ✕", "Mountains  ✕"]  # 'other' is always there
    panel.values.edit.setText("city")  # typed, not yet a chip: it counts too
    panel.values.chips[1].click()
    panel.values.discover.setChecked(True)
    panel.add_criterion()
    criterion = panel.criteria()[0]
    assert criterion.values == ("beach", "city") and criterion.discover and criterion.keywords is None
    assert "values: beach, city, other, + the rest found" in panel.criteria_list.item(0).text()
    assert panel.values.values() == () and not panel.values.chips  # the fields are empty for the next one

    panel.criteria_list.setCurrentRow(0)
    panel.edit_selected()
    assert panel.values.values() == ("beach", "city") and panel.values.discover.isChecked()


def test_values_with_keywords_or_a_number_of_clusters_are_refused_in_a_sentence(panel, qtbot):
    panel.criterion_edit.setText("the place")
    panel.values.edit.setText("beach, city")
    panel.keywords_edit.setText("sand, sea")
    with qtbot.waitSignal(panel.refused) as said:
        panel.add_criterion()
    assert "give only the values" in said.args[0] and panel.criteria() == []
    panel.keywords_edit.clear()
    panel.k_spin.setValue(3)
    with qtbot.waitSignal(panel.refused) as said:
        panel.add_criterion()
    assert "set Clusters to auto" in said.args[0] and panel.criteria() == []


def test_the_window_sorts_into_the_named_values_and_other(qtbot, tmp_path):
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    window = MainWindow(lm, mmproj, cache_dir=tmp_path / "cache", compute=ComputeRequest(threads=1))
    qtbot.addWidget(window)
    photos = write_photo_folder(tmp_path / "photos", 20, seed=4, size=64)
    named = ["red", "green", "blue", "yellow", "purple"]  # orange left out
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    window.criteria_panel.criterion_edit.setText(COLOR)
    window.criteria_panel.values.edit.setText(", ".join(named))
    window.criteria_panel.add_criterion()
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    colour = window.result.criterion(0)
    assert colour.names == named + ["other"]
    truth = {p.name: spec.color for p, spec in photos}
    assert len(colour.members(len(named))) == list(truth.values()).count("orange") > 0
    for k, name in enumerate(colour.names):
        expected = {name} if name in named else {"orange"}
        assert {truth[window.result.photos[i].path.name] for i in colour.members(k)} <= expected


def menu_action(menu, text: str):
    """The action of a menu (or of one of its submenus, 'Sub/Item') with this text."""
    head, _, rest = text.partition("/")
    action = next(a for a in menu.actions() if a.text() == head)
    return menu_action(action.menu(), rest) if rest else action


def test_a_found_cluster_is_merged_into_a_value_from_its_card_undone_and_another_made_a_value(qtbot, tmp_path):
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    window = MainWindow(lm, mmproj, cache_dir=tmp_path / "cache", compute=ComputeRequest(threads=1))
    qtbot.addWidget(window)
    photos = write_photo_folder(tmp_path / "photos", 30, seed=11, size=64)
    truth = {p.name: spec.color for p, spec in photos}
    window.folder_panel.folder_edit.setText(str(tmp_path / "photos"))
    window.criteria_panel.criterion_edit.setText(COLOR)
    window.criteria_panel.values.edit.setText("red, green")
    window.criteria_panel.values.discover.setChecked(True)
    window.criteria_panel.add_criterion()
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.result is not None, timeout=120_000)
    colour, view = window.result.criterion(0), window.view(0)
    cards = view.cards.cards
    assert cards[0].count.text().endswith("· value") and cards[2].count.text().endswith("· found")
    assert "Make it a value" not in [a.text() for a in view.cluster_menu(0).actions()]  # a value is one already

    orange = next(k for k, n in enumerate(colour.names) if n.split()[0] == "orange")
    orange_name = colour.names[orange]
    menu_action(view.cluster_menu(orange), "Merge into value/red").trigger()
    qtbot.waitUntil(lambda: len(view.cards.cards) == len(window.result.criterion(0).names))
    colour = window.result.criterion(0)
    assert orange_name not in colour.names
    red = colour.names.index("red")
    assert {truth[window.result.photos[i].path.name] for i in colour.members(red)} == {"red", "orange"}
    assert "new photos read like them go to it" in window.status.text()
    assert window.menus.undo_merge_action.isEnabled()

    window.menus.undo_merge_action.trigger()
    qtbot.waitUntil(lambda: orange_name in window.result.criterion(0).names)
    colour = window.result.criterion(0)
    assert {truth[window.result.photos[i].path.name] for i in colour.members(colour.names.index("red"))} == {"red"}
    assert not window.menus.undo_merge_action.isEnabled()

    # a found cluster's card dragged onto a value's card merges it too; onto a found cluster's card, nothing
    found, green = view.cards.card(orange), view.cards.card(colour.names.index("green"))
    args = (Qt.DropAction.MoveAction, found.mime(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(5, 5), *args)
    view.cards.card(next(k for k in range(len(colour.names)) if not colour.is_value(k) and k != orange)) \
        .dragEnterEvent(enter)
    assert not enter.isAccepted()
    green.dragEnterEvent(enter := QDragEnterEvent(QPoint(5, 5), *args))
    assert enter.isAccepted()
    green.dropEvent(QDropEvent(QPointF(5, 5), *args))
    qtbot.waitUntil(lambda: orange_name not in window.result.criterion(0).names)
    colour = window.result.criterion(0)
    assert {truth[window.result.photos[i].path.name] for i in colour.members(colour.names.index("green"))} == \
        {"green", "orange"}
    window.menus.undo_merge_action.trigger()
    qtbot.waitUntil(lambda: orange_name in window.result.criterion(0).names)
    colour = window.result.criterion(0)

    blue = next(k for k, n in enumerate(colour.names) if n.split()[0] == "blue")
    menu_action(view.cluster_menu(blue), "Make it a value").trigger()
    assert colour.is_value(blue) and view.cards.card(blue).count.text().endswith("· value")
    card = view.cards.card(blue)
    card.name.setText("sky blue")
    card.name.editingFinished.emit()
    qtbot.waitUntil(lambda: window.result.criterion(0).names[blue] == "sky blue")
    assert window.result.criterion(0).is_value(blue)
    assert "sky blue" in [a.text() for a in menu_action(view.cluster_menu(orange), "Merge into value").menu().actions()]
