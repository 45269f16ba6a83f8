"""The models the app knows: pairs (name, LM, mmproj, fingerprint) remembered where the user keeps them.

Model files stay where they are; the registry is a small JSON file in the
user data folder (platformdirs), written atomically. A pair is checked when
added (readable, matching widths, no legacy mmproj). The shipped demo model
is package data (esmc_desktop/demo/model/), found through importlib.resources so
an installed wheel has it as well as a source checkout. It is the default
until another pair is made the default (`models pull` does so).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from esmc_desktop.errors import EsmcError, ModelFileError
from esmc_desktop.files import write_atomic
from esmc_desktop.mllm.gguf_files import check_pair, fingerprint

APP_NAME = "esmc-desktop"
DEMO_NAME = "demo"
DEMO_DIR = Path(str(resources.files("esmc_desktop.demo").joinpath("model")))
DEMO_FILES = ("demo-Q4_K_M.gguf", "demo-mmproj-f16.gguf")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    lm: Path
    mmproj: Path
    fingerprint: str


def default_registry_file() -> Path:
    return platformdirs.user_data_path(APP_NAME) / "models.json"


def downloads_dir() -> Path:
    """Where `models pull` puts the files it downloads (one folder per model)."""
    return platformdirs.user_data_path(APP_NAME) / "models"


def demo_entry() -> ModelEntry | None:
    lm, mmproj = (DEMO_DIR / f for f in DEMO_FILES)
    if lm.is_file() and mmproj.is_file():
        return ModelEntry(DEMO_NAME, lm, mmproj, fingerprint(lm, mmproj))
    return None


class ModelRegistry:
    """Load, add, remove and look up model pairs."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_registry_file()

    def _read(self) -> dict:
        if not self.path.is_file():
            return {"models": []}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            raw["entries"] = [ModelEntry(e["name"], Path(e["lm"]), Path(e["mmproj"]), e["fingerprint"])
                              for e in raw["models"]]
            return raw
        except (ValueError, KeyError, TypeError) as exc:
            raise EsmcError(f"the model list {self.path} is damaged ({exc}); remove or fix it") from exc

    def _load(self) -> list[ModelEntry]:
        return self._read().get("entries", [])

    def _save(self, entries: list[ModelEntry], default: str | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data: dict = {"models": [{**asdict(e), "lm": str(e.lm), "mmproj": str(e.mmproj)} for e in entries]}
        if default is not None and any(e.name == default for e in entries):
            data["default"] = default
        write_atomic(self.path, json.dumps(data, indent=2))

    def default_name(self) -> str | None:
        """The pair used when none is named: the one set as default (`pull` sets it), else the demo model."""
        stored = self._read().get("default")
        if stored is not None:
            return stored
        entries = self.entries()
        return entries[0].name if entries else None

    def set_default(self, name: str) -> None:
        entries = self._load()
        if name != DEMO_NAME and not any(e.name == name for e in entries):
            raise EsmcError(f"no model named {name!r} (known: {', '.join(e.name for e in self.entries())})")
        self._save(entries, None if name == DEMO_NAME else name)

    def entries(self) -> list[ModelEntry]:
        """The demo model first (when shipped), then the user's pairs in the order added."""
        demo = demo_entry()
        return ([demo] if demo else []) + self._load()

    def add(self, name: str, lm: Path | str, mmproj: Path | str) -> ModelEntry:
        name = name.strip()
        if not name:
            raise EsmcError("give the model a name")
        if name == DEMO_NAME or any(e.name == name for e in self._load()):
            raise EsmcError(f"a model named {name!r} already exists; remove it first or choose another name")
        lm, mmproj = Path(lm).resolve(), Path(mmproj).resolve()
        check_pair(lm, mmproj)
        entry = ModelEntry(name, lm, mmproj, fingerprint(lm, mmproj))
        self._save(self._load() + [entry], self._read().get("default"))
        return entry

    def remove(self, name: str) -> None:
        entries = self._load()
        if not any(e.name == name for e in entries):
            raise EsmcError(f"no model named {name!r}")
        self._save([e for e in entries if e.name != name], self._read().get("default"))

    def get(self, name: str | None = None) -> ModelEntry:
        """The named pair, or the default when no name is given; files are re-checked."""
        entries = self.entries()
        if name is None:
            if not entries:
                raise EsmcError("no model available: get LLaVA-1.5-7b with `esmc-desktop models pull`, or add "
                                "files you have with `esmc-desktop models add NAME LM.gguf MMPROJ.gguf`")
            name = self.default_name()
        matches = [e for e in entries if e.name == name]
        if not matches:
            known = ", ".join(e.name for e in entries) or "none"
            raise EsmcError(f"no model named {name!r} (known: {known})")
        entry = matches[0]
        for path in (entry.lm, entry.mmproj):
            if not path.is_file():
                raise ModelFileError(f"model {entry.name!r}: {path} is gone; move it back or remove the entry")
        return entry
