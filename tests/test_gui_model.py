"""The window says which model it uses, warns before the demo model sorts photos it cannot see, and downloads one."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from esmc_desktop.demo.world import write_photo_folder  # noqa: E402
from tests.test_gui import own_settings, window  # noqa: E402,F401  (fixtures)
from tests.test_pipeline import make_photos  # noqa: E402
from tests.test_pull import LM_KEY, hub, published, user_data  # noqa: E402,F401  (fixtures)


def test_the_window_names_the_model_and_warns_before_the_demo_model_sorts_photos_it_cannot_see(window, qtbot,
                                                                                               tmp_path):
    assert window.model_name.text() == "Model: demo"
    window.open_folder(make_photos(tmp_path / "holiday", 6))
    qtbot.waitUntil(lambda: window.model_notice.isVisibleTo(window), timeout=30_000)
    assert "only knows the synthetic world" in window.model_notice.text()
    assert "Model > Download" in window.model_notice.text()

    write_photo_folder(tmp_path / "generated", 8, seed=1, size=64)
    window.open_folder(tmp_path / "generated")
    qtbot.waitUntil(lambda: window.tabs.folder_photos() == 8, timeout=30_000)
    assert not window.model_notice.isVisibleTo(window)


def test_model_download_shows_sizes_first_runs_off_the_gui_thread_and_the_window_then_uses_the_model(
        window, qtbot, user_data, hub, tmp_path):
    dialog = window.open_download_dialog()
    dialog.source.setText(hub.url)
    dialog.check_button.click()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    assert "language model: llava-v1.5-7b-Q4_K_M.gguf" in dialog.details.text()
    assert hub.files.gets(LM_KEY) == []  # nothing downloaded before Download
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.entry is not None, timeout=60_000)
    assert window.model_name.text() == "Model: llava-1.5-7b"
    window.open_folder(make_photos(tmp_path / "holiday", 4))
    qtbot.waitUntil(lambda: window.tabs.folder_photos() == 4, timeout=30_000)
    assert not window.model_notice.isVisibleTo(window)
    dialog.cancel_button.click()
