"""`models pull`: from a catalogue name to a registered, working, default LLaVA-1.5 pair.

Two steps so that a face (CLI or window) can show what will happen before it
happens: `plan_pull` asks the hub for sizes and hashes (the only network use
besides the download itself) and checks free space; `run_pull` downloads
(resumable, hash-checked), repairs a legacy mmproj into a new file (the
download is never modified), registers the pair and makes it the default.
Sorting never touches the network; only this module does, and only when asked.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm.catalog import DEFAULT_MODEL, DEFAULT_QUANT, CatalogModel, find_model
from esmc_desktop.mllm.download import RemoteFile, bytes_present, download, remote_file
from esmc_desktop.mllm.registry import ModelEntry, ModelRegistry, downloads_dir
from esmc_desktop.progress import Progress, ProgressCallback


@dataclass(frozen=True)
class PullFile:
    role: str  # "language model" or "vision projector"
    path: Path  # where the file is (DIR source) or will be (download)
    remote: RemoteFile | None  # None for files already on disk (--from DIR)
    present: int  # bytes already on disk

    @property
    def size(self) -> int:
        return self.remote.size if self.remote is not None else self.path.stat().st_size


@dataclass(frozen=True)
class PullPlan:
    model: CatalogModel
    quant: str
    name: str  # the name it is registered under
    source: str  # where the files come from, in words
    folder: Path  # where downloads and the repaired mmproj go
    lm: PullFile
    mmproj: PullFile
    free: int  # bytes free where `folder` is

    @property
    def to_download(self) -> int:
        return sum(f.size - f.present for f in (self.lm, self.mmproj) if f.remote is not None)

    @property
    def needed(self) -> int:
        """Disk the pull will use: what is left to download plus room for the repaired projector and its
        Q8_0 copy (about half its size)."""
        return self.to_download + self.mmproj.size + self.mmproj.size // 2 + 1

    def describe(self) -> list[str]:
        lines = [f"{self.name}: {self.model.about}", f"  from {self.source}"]
        for f in (self.lm, self.mmproj):
            state = ("already here" if f.present == f.size else
                     f"{_gb(f.present)} of it already here, resuming" if f.present else "to download")
            lines.append(f"  {f.role}: {f.path.name}, {_gb(f.size)} ({state})")
        lines.append(f"  into {self.folder}: needs {_gb(self.needed)}, {_gb(self.free)} free")
        return lines


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def registry_name(model: CatalogModel, quant: str) -> str:
    return model.name if quant == DEFAULT_QUANT else f"{model.name}-{quant}"


def _free_bytes(folder: Path) -> int:
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return shutil.disk_usage(existing).free


def plan_pull(name: str = DEFAULT_MODEL, quant: str = DEFAULT_QUANT, source: str | None = None,
              folder: Path | None = None) -> PullPlan:
    """What pulling `name` would fetch and need. `source`: None (the hub), a hub mirror URL, or a folder."""
    model = find_model(name)
    quant = quant.upper()
    lm_name = model.lm_file(quant)
    folder = Path(folder) if folder is not None else downloads_dir() / registry_name(model, quant)
    if source is not None and not source.startswith(("http://", "https://")):
        src = Path(source).expanduser()
        if not src.is_dir():
            raise EsmcError(f"--from takes a hub mirror URL (http...) or a folder; {source} is neither")
        files = []
        for role, fname in (("language model", lm_name), ("vision projector", model.mmproj_file)):
            path = src / fname
            if not path.is_file():
                raise EsmcError(f"{src} has no {fname} (the {role} of {model.name} {quant})")
            files.append(PullFile(role, path.resolve(), None, path.stat().st_size))
        where = f"{src} (files used where they are; not hash-checked, no hub to ask)"
    else:
        endpoint = source.rstrip("/") if source else None
        files = []
        for role, fname in (("language model", lm_name), ("vision projector", model.mmproj_file)):
            remote = remote_file(endpoint, model.repo_id, fname, model.revision)
            dest = folder / fname
            files.append(PullFile(role, dest, remote, bytes_present(dest, remote)))
        where = f"{model.repo_id} on {endpoint or 'the Hugging Face Hub'}"
    return PullPlan(model, quant, registry_name(model, quant), where, folder, files[0], files[1],
                    _free_bytes(folder))


def check_space(plan: PullPlan) -> None:
    if plan.needed > plan.free:
        raise EsmcError(f"not enough disk space: {plan.name} needs {_gb(plan.needed)} in {plan.folder}, "
                        f"only {_gb(plan.free)} is free. Free some space and pull again")


def _fetch(f: PullFile, progress: ProgressCallback | None, cancel: threading.Event | None) -> Path:
    if f.remote is None:
        return f.path
    return download(f.remote, f.path, progress=progress, cancel=cancel)


def _made_once(source: Path, made: Path, mark: str, what: str, stage: str, make: Callable[[Path, Path], None],
               progress: ProgressCallback | None) -> Path:
    """`made`, a file made from `source` once (it names `source` under `mark`); never written over another file."""
    from esmc_desktop.mllm.gguf_files import read_info

    if made.is_file() and read_info(made).get(mark) == source.name:
        return made
    if made.exists():
        raise EsmcError(f"{made} exists and is not {what} of {source.name}; move it away and pull again")
    if progress is not None:
        progress(Progress(stage, 0, 1, name=source.name))
    made.parent.mkdir(parents=True, exist_ok=True)
    make(source, made)
    return made


def _working_mmproj(mmproj: Path, folder: Path, progress: ProgressCallback | None) -> tuple[Path, bool]:
    """The mmproj to register: the file itself, or a repaired copy of a legacy one (made once, in `folder`)."""
    from esmc_desktop.mllm.gguf_files import is_legacy, read_info
    from esmc_desktop.mllm.legacy_mmproj import REPAIRED_MARK, repair_mmproj

    if not is_legacy(read_info(mmproj)):
        return mmproj, False
    return _made_once(mmproj, folder / f"{mmproj.stem}-repaired.gguf", REPAIRED_MARK, "a repair", "repair",
                      repair_mmproj, progress), True


def _lean_mmproj(mmproj: Path, folder: Path, progress: ProgressCallback | None) -> Path:
    """A Q8_0 copy of the mmproj (made once, in `folder`), which is the one registered.

    Half the memory of the published f16 file (0.32 against 0.61 GiB at 7B), which takes a whole
    `cluster` at 7B under 5 GiB, with the same readings: hidden states at cosine 0.99999 of the f16
    projector's at every block and the same top-1 lens token (docs/memory-and-quantization.md).
    """
    from esmc_desktop.mllm.quantize import QUANTIZED_FROM, quantize_mmproj

    return _made_once(mmproj, folder / f"{mmproj.stem}-Q8_0.gguf", QUANTIZED_FROM, "a Q8_0 copy", "quantize",
                      quantize_mmproj, progress)


def _register(registry: ModelRegistry, name: str, lm: Path, mmproj: Path) -> ModelEntry:
    for entry in registry.entries():
        if entry.name == name:
            if (entry.lm, entry.mmproj) != (lm.resolve(), mmproj.resolve()):
                raise EsmcError(f"a model named {name!r} is already registered with other files; "
                                f"`esmc-desktop models remove {name}` first")
            break
    else:
        entry = registry.add(name, lm, mmproj)
    registry.set_default(name)
    return entry


@dataclass(frozen=True)
class PullResult:
    entry: ModelEntry
    repaired: bool  # the mmproj was a legacy one; `entry.mmproj` is the repaired copy


def run_pull(plan: PullPlan, registry: ModelRegistry | None = None, *, progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> PullResult:
    """Fetch, check, repair, quantize the projector to Q8_0 and register the pair of `plan`, and make it the
    default model.

    `progress` gets the stages "download" (bytes of the file `name`), "repair" (0 of 1), "quantize" (0 of 1)
    and "register" (1 of 1).
    """
    check_space(plan)
    lm = _fetch(plan.lm, progress, cancel)
    mmproj = _fetch(plan.mmproj, progress, cancel)
    mmproj, repaired = _working_mmproj(mmproj, plan.folder, progress)
    mmproj = _lean_mmproj(mmproj, plan.folder, progress)
    if progress is not None:
        progress(Progress("register", 1, 1, name=plan.name))
    return PullResult(_register(registry or ModelRegistry(), plan.name, lm, mmproj), repaired)
