"""A labelled benchmark dataset: ESMC's layout DATASET/<criterion>/<label>/<image>, and its criteria file.

Each criterion folder becomes a phrase ("color" -> "color of the flower"), which
becomes the prompt "The color of the flower is". The phrase comes from, in this order:
`--criterion FOLDER=PHRASE`, the dataset's `criteria.toml`, else the folder name
itself with underscores as spaces (the documented default: "color of the object"
is already a phrase; "color" gives the bare prompt "The color is").

criteria.toml, in the dataset root (optional keywords replace the model's own):

    alpha = 0.3                      # the paper's pseudo-label fraction for this dataset
    [criteria]
    color = "color of the flower"
    species = { phrase = "species of the flower", keywords = ["daisy", "rose"] }

A label folder may have subfolders (ESMC's cars: manufacturer/BMW/<model>/<image>).
Photos are matched across criterion folders by content, so a photo filed under
every criterion is one photo (encoded once); each criterion is scored on the
photos labelled under it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.errors import EsmcError
from esmc_desktop.photos.scan import PHOTO_SUFFIXES, content_hash

CRITERIA_FILE = "criteria.toml"


@dataclass(frozen=True)
class BenchCriterion:
    folder: str
    phrase: str
    keywords: tuple[str, ...] | None
    labels: dict[str, str]  # content hash -> label (the label folder's name)

    @property
    def label_names(self) -> list[str]:
        return sorted(set(self.labels.values()))


@dataclass(frozen=True)
class BenchDataset:
    root: Path
    criteria: list[BenchCriterion]
    alpha: float | None  # from criteria.toml, if it says


def parse_mapping(specs: list[str] | None) -> dict[str, str]:
    """['color=color of the flower', ...] -> {'color': 'color of the flower'}."""
    out: dict[str, str] = {}
    for spec in specs or []:
        folder, sep, phrase = spec.partition("=")
        if not sep or not folder.strip() or not phrase.strip():
            raise EsmcError(f"--criterion {spec!r}: write FOLDER=PHRASE, e.g. color='color of the flower'")
        out[folder.strip()] = phrase.strip()
    return out


def _read_file(root: Path) -> tuple[dict[str, tuple[str, tuple[str, ...] | None]], float | None]:
    path = root / CRITERIA_FILE
    if not path.is_file():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EsmcError(f"{path} is not valid TOML ({exc}); see `esmc-desktop bench --help` for its form") from None
    alpha = data.get("alpha")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise EsmcError(f"{path}: alpha must be a number in (0, 1], got {alpha!r}")
    out = {}
    for folder, value in (data.get("criteria") or {}).items():
        if isinstance(value, str):
            out[folder] = (value, None)
        elif isinstance(value, dict) and isinstance(value.get("phrase"), str):
            words = value.get("keywords")
            if words is not None and not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
                raise EsmcError(f"{path}: keywords of {folder!r} must be a list of words")
            out[folder] = (value["phrase"], tuple(words) if words else None)
        else:
            raise EsmcError(f"{path}: {folder!r} needs a phrase, e.g. {folder} = \"{folder} of the car\"")
    return out, None if alpha is None else float(alpha)


def load_dataset(root: Path | str, phrases: dict[str, str] | None = None) -> BenchDataset:
    """The criteria of a dataset, each with its phrase, keywords and per-photo labels."""
    root = Path(root)
    if not root.is_dir():
        raise EsmcError(f"{root} is not a folder; give DATASET with <criterion>/<label>/<image> inside")
    from_file, alpha = _read_file(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = {p.name for p in folders}
    for folder in [*(phrases or {}), *from_file]:
        if folder not in names:
            raise EsmcError(f"{root} has no criterion folder {folder!r} (it has: {', '.join(sorted(names))})")
    criteria = []
    for crit in folders:
        labels = {}
        for label_dir in sorted(p for p in crit.iterdir() if p.is_dir()):
            for f in sorted(label_dir.rglob("*")):  # ESMC's cars: manufacturer/BMW/<model>/<image>
                if f.is_file() and f.suffix.lower() in PHOTO_SUFFIXES:
                    labels[content_hash(f)] = label_dir.name
        if len(set(labels.values())) < 2:
            continue
        phrase, keywords = from_file.get(crit.name, (crit.name.replace("_", " "), None))
        phrase = (phrases or {}).get(crit.name, phrase)
        criteria.append(BenchCriterion(crit.name, phrase, keywords, labels))
    if not criteria:
        raise EsmcError(f"{root} has no <criterion>/<label>/<image> folders with at least two labels")
    if len({c.phrase for c in criteria}) != len(criteria):
        raise EsmcError("two criterion folders have the same phrase; give each its own with --criterion FOLDER=PHRASE")
    return BenchDataset(root, criteria, alpha)
