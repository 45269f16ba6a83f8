"""What the window remembers between sessions (QSettings), with every key in one place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings

from esmc_desktop.errors import SettingsError
from esmc_desktop.app.options import DEFAULT_TEMPLATE, TEMPLATES, GpuLayers
from esmc_desktop.app.sort import ComputeRequest

LM, MMPROJ, GPU_LAYERS, THREADS, TEMPLATE, RECENT, THEME = (
    "model/lm", "model/mmproj", "model/gpu_layers", "model/threads", "model/template", "folders/recent", "view/theme")
MAX_RECENT = 8
THEMES = ("system", "light", "dark")


class Preferences:
    """Typed reads and writes of the window's QSettings; a value that no longer makes sense reads as unset."""

    def __init__(self) -> None:
        self._settings = QSettings()

    def model(self) -> tuple[Path, Path] | None:
        lm, mmproj = self._settings.value(LM), self._settings.value(MMPROJ)
        return (Path(lm), Path(mmproj)) if lm and mmproj else None

    def set_model(self, lm: Path, mmproj: Path) -> None:
        self._settings.setValue(LM, str(lm))
        self._settings.setValue(MMPROJ, str(mmproj))

    def gpu_layers(self) -> GpuLayers:
        try:
            return GpuLayers.parse(str(self._settings.value(GPU_LAYERS, "auto")))
        except SettingsError:
            return GpuLayers()

    def threads(self) -> int | None:
        """CPU threads; None is all cores."""
        value = str(self._settings.value(THREADS, ""))
        return int(value) if value.isdigit() and int(value) > 0 else None

    def compute(self, given: ComputeRequest, gpu_layers: GpuLayers | None = None) -> ComputeRequest:
        """The compute choice a session starts with: the remembered GPU layers and threads where the command
        line gave none (`gpu_layers` None, `given.threads` None); its other values as given."""
        return replace(given, gpu_layers=gpu_layers if gpu_layers is not None else self.gpu_layers(),
                       threads=given.threads if given.threads is not None else self.threads())

    def set_compute(self, compute: ComputeRequest) -> None:
        """Remember the GPU layers and threads (the rest of a request is the command line's, for one session)."""
        self._settings.setValue(GPU_LAYERS, str(compute.gpu_layers))
        self._settings.setValue(THREADS, str(compute.threads or ""))

    def template(self) -> str:
        """The chat template (a name in app.options.TEMPLATES)."""
        value = str(self._settings.value(TEMPLATE, DEFAULT_TEMPLATE))
        return value if value in TEMPLATES else DEFAULT_TEMPLATE

    def set_template(self, template: str) -> None:
        self._settings.setValue(TEMPLATE, template)

    def recent_folders(self) -> list[Path]:
        """The photo folders opened last, newest first, leaving out those that are gone."""
        value = self._settings.value(RECENT, [])
        names = [value] if isinstance(value, str) else list(value or [])
        return [Path(n) for n in names if n and Path(n).is_dir()]

    def add_recent_folder(self, folder: Path) -> None:
        folders = [folder] + [f for f in self.recent_folders() if f != folder]
        self._settings.setValue(RECENT, [str(f) for f in folders[:MAX_RECENT]])

    def theme(self) -> str:
        value = str(self._settings.value(THEME, "system"))
        return value if value in THEMES else "system"

    def set_theme(self, theme: str) -> None:
        self._settings.setValue(THEME, theme)
