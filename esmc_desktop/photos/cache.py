"""Per-photo lens vectors and localization results, in SQLite under the user cache folder.

Keys use the photo's content hash, so changed bytes are a different entry (the
old one is never served), and everything the vector is computed from: the model
fingerprint, the chat template (name and a digest of its wording), the prompt,
(layer, position) and the lens parameters, so a different model or setting never
reuses a vector. The localization rule, its version and search span only decide
(layer, position); they are part of the localization key, and a vector read at
the same place with the same template is the same vector whichever rule chose it.
Each photo's vectors are committed as soon as they exist: a run killed at any
point resumes without recomputing finished photos. WAL mode keeps readers and
the writer from blocking each other.

The cache is derived data: a database that cannot be opened or fails SQLite's quick
check (garbage bytes, a file cut short by a crash or a full disk) is moved aside with
the time in its name, a new one is started, and the run goes on; it costs time, never
the run.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from esmc_desktop.files import move_aside

SCHEMA = """
DROP TABLE IF EXISTS vectors;
CREATE TABLE IF NOT EXISTS lens_vectors (
    photo TEXT NOT NULL, model TEXT NOT NULL, template TEXT NOT NULL, prompt TEXT NOT NULL,
    layer INTEGER NOT NULL, position INTEGER NOT NULL, lens TEXT NOT NULL,
    indices BLOB NOT NULL, vals BLOB NOT NULL,
    PRIMARY KEY (photo, model, template, prompt, layer, position, lens)
);
CREATE TABLE IF NOT EXISTS localizations (
    key TEXT PRIMARY KEY, value TEXT NOT NULL
);
"""
# `vectors` was the table before the template was part of the key: its rows can't say which template made them.


class _FailedCheck(sqlite3.DatabaseError):
    """The database opened, but SQLite's own quick check found damage."""


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Damage in the file itself (not a lock, not a permission): garbage, a cut-off file, a failed check."""
    return isinstance(exc, _FailedCheck) or getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT",
                                                                                     "SQLITE_NOTADB")


@dataclass(frozen=True)
class VectorKey:
    """Everything a cached lens vector depends on, besides the photo."""

    model: str
    template: str  # ChatTemplate.key
    prompt: str
    layer: int
    position: int
    lens: str


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("esmc-desktop")


class FeatureCache:
    def __init__(self, folder: Path | str | None = None) -> None:
        folder = Path(folder) if folder is not None else default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "features.sqlite"
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise  # locked by another run, or a folder we may not write: not the file's fault
            for part in sorted(folder.glob(self.path.name + "-*")):  # its WAL and shared-memory files
                if part.name.endswith(("-wal", "-shm")):
                    move_aside(part, "belongs to a damaged feature cache")
            move_aside(self.path, f"is a damaged feature cache ({exc})")
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        """Connect, check and set up; raises sqlite3.DatabaseError when the file is not a sound database."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise _FailedCheck(verdict)
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "FeatureCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, photo: str, key: VectorKey) -> tuple[np.ndarray, np.ndarray] | None:
        row = self._db.execute(
            "SELECT indices, vals FROM lens_vectors WHERE photo=? AND model=? AND template=? AND prompt=? AND layer=? "
            "AND position=? AND lens=?",
            (photo, key.model, key.template, key.prompt, key.layer, key.position, key.lens)).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[0], np.int32).copy(), np.frombuffer(row[1], np.float32).copy()

    def put_photo(self, photo: str, vectors: dict[VectorKey, tuple[np.ndarray, np.ndarray]]) -> None:
        """Store all of one photo's vectors in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO lens_vectors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(photo, k.model, k.template, k.prompt, k.layer, k.position, k.lens,
                  np.asarray(i, np.int32).tobytes(), np.asarray(v, np.float32).tobytes())
                 for k, (i, v) in vectors.items()])

    def get_localization(self, key: dict) -> dict | None:
        row = self._db.execute("SELECT value FROM localizations WHERE key=?",
                               (json.dumps(key, sort_keys=True),)).fetchone()
        return json.loads(row[0]) if row else None

    def put_localization(self, key: dict, value: dict) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO localizations VALUES (?, ?)",
                             (json.dumps(key, sort_keys=True), json.dumps(value)))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))

    def count_vectors(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM lens_vectors").fetchone()[0])
