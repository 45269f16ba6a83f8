"""The window shows where each criterion is read, on a map of blocks by prompt tokens, and re-reads where clicked."""

from __future__ import annotations

from esmc_desktop.gui.place_map import CHOSEN
from tests.test_gui import sort_generated_photos, window  # noqa: F401 (the window fixture)


def test_details_show_the_map_with_the_chosen_place_and_why_k_and_a_double_click_reads_there(window, qtbot, tmp_path):
    window.show()
    sort_generated_photos(window, qtbot, tmp_path / "photos", 12, seed=5, criterion="color of the object", k=0)
    view = window.view(0)
    assert view.place_map.isHidden(), "the map is a detail: shown on demand"
    crit = window.result.criterion(0)
    loc = crit.reading.localization
    view.details_button.click()
    assert view.place_map.isVisible() and view.choices.isVisible()
    assert "chosen automatically: the highest silhouette" in view.choices.text()
    row, column = view.place_map.cell_of(loc.layer, loc.position)
    assert view.place_map.item(row, column).text() == CHOSEN
    assert view.place_map.horizontalHeaderItem(column).text() == crit.reading.prompt_tokens[loc.position].replace(
        " ", "·")
    assert "sample photos read a keyword" in view.place_map.item(row, column).toolTip()
    # another place: the first block, the first token of the prompt's own words
    other_layer, other_position = 0, 2
    view.place_map.cellDoubleClicked.emit(*view.place_map.cell_of(other_layer, other_position))
    qtbot.waitUntil(lambda: window.result.criterion(0).reading.localization.rule == "user", timeout=120_000)
    qtbot.waitUntil(lambda: not window.is_running(), timeout=60_000)
    again = window.result.criterion(0).reading.localization
    assert (again.layer, again.position) == (other_layer, other_position)
    assert window.criteria()[0].target == (other_layer, f"#{other_position}")
    assert "read at block 0, token #2" in window.criteria_panel.criteria_list.item(0).text()
    again_view = window.view(0)
    again_view.details_button.click()
    assert again_view.place_map.item(*again_view.place_map.cell_of(other_layer, other_position)).text() == CHOSEN
