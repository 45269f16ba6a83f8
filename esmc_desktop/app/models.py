"""Model files: describe and check a pair, repair a legacy mmproj, remember pairs under names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from esmc_desktop.errors import EsmcError
from esmc_desktop.mllm import gguf_files as g
from esmc_desktop.mllm.legacy_mmproj import repair_mmproj
from esmc_desktop.mllm.registry import ModelEntry, ModelRegistry

__all__ = ["ModelEntry", "PairReport", "add_model", "check_files", "default_model", "list_models", "remove_model",
           "repair", "set_default_model"]

_MMPROJ_KEYS = [("projector", g.PROJECTOR_TYPE), ("vision blocks", g.VISION_BLOCK_COUNT),
                ("vision width", g.VISION_EMBEDDING_LENGTH), ("image size", g.IMAGE_SIZE),
                ("patch size", g.PATCH_SIZE), ("output width", g.PROJECTION_DIM)]
_LM_KEYS = [("layers", g.LM_BLOCK_COUNT), ("embedding width", g.LM_EMBEDDING_LENGTH), ("heads", g.LM_HEAD_COUNT),
            ("context", g.LM_CONTEXT_LENGTH), ("vocabulary", g.TOKENS)]


@dataclass(frozen=True)
class PairReport:
    """What each file is (lines to show), and the problems that keep the pair from working (none: it works)."""

    descriptions: list[list[str]]
    problems: list[str]


def _describe(info: g.GgufInfo) -> list[str]:
    kind, keys = ("vision projector (mmproj)", _MMPROJ_KEYS) if info.is_mmproj else ("language model", _LM_KEYS)
    lines = [f"{info.path}", f"  kind: {kind}, architecture {info.architecture}, quantization {info.file_type}, "
                              f"{info.n_tensors} tensors, {info.path.stat().st_size / 2**20:.1f} MiB"]
    lines += [f"  {label}: {info.get(key)}" for label, key in keys if info.get(key) is not None]
    if g.is_legacy(info):
        lines.append("  note: legacy LLaVA-1.5 mmproj, one CLIP block short in this llama.cpp")
    return lines


def check_files(lm: Path | str, mmproj: Path | str) -> PairReport:
    """Describe both files and check they form a working pair; every problem found is reported, none raised."""
    problems, descriptions = [], []
    for path in (lm, mmproj):
        try:
            descriptions.append(_describe(g.read_info(path)))
        except EsmcError as exc:
            problems.append(str(exc))
    if not problems:
        try:
            g.check_pair(lm, mmproj)
        except EsmcError as exc:
            problems.append(str(exc))
    return PairReport(descriptions, problems)


def repair(src: Path | str, dst: Path | str) -> int:
    """Write a repaired copy of a legacy mmproj (src is never touched); returns the declared block count."""
    return repair_mmproj(src, dst)


def list_models() -> list[ModelEntry]:
    """The remembered pairs, the default first."""
    return ModelRegistry().entries()


def add_model(name: str, lm: Path | str, mmproj: Path | str) -> ModelEntry:
    return ModelRegistry().add(name, lm, mmproj)


def remove_model(name: str) -> None:
    ModelRegistry().remove(name)


def default_model() -> str | None:
    """The name of the pair used when none is named."""
    return ModelRegistry().default_name()


def set_default_model(name: str) -> None:
    ModelRegistry().set_default(name)
