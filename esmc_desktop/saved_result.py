"""A clustering result kept next to its exported folders, so new photos can be assigned later.

OUT/.esmc/result.json says which model, prompts, targets and names were used;
OUT/.esmc/criterion-<n>.onnx holds each criterion's head (with the same metadata inside). Where they
are and result.json's format belong to the export folder (photos/export_folder/); this module adds
the heads, which need the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx, rewrite_metadata
from esmc_desktop.photos.export_folder import ExportFolder, SavedResult

__all__ = ["HeadToSave", "load_heads", "load_result", "save_result", "update_criterion"]


@dataclass(frozen=True)
class HeadToSave:
    """What a criterion's ONNX head holds besides what result.json says of it."""

    weights: HeadWeights
    keywords: list[str]
    localization: str  # where the criterion was read, in words
    localization_rule: str


def save_result(out: Path | str, saved: SavedResult, heads: Sequence[HeadToSave]) -> Path:
    """Write each criterion's head (`heads`, in `saved.criteria`'s order) at its place under OUT/.esmc/, with the
    criterion and the model in its metadata, then result.json; returns result.json's path."""
    folder = ExportFolder(out)
    folder.make_state()
    for c, h in zip(saved.criteria, heads, strict=True):
        meta = {"criterion": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
                "names": list(c.names), "keywords": h.keywords, "model_fingerprint": saved.model_fingerprint,
                "lens_top_k": saved.lens_top_k, "lens_final_norm": saved.lens_final_norm,
                "localization": h.localization, "localization_rule": h.localization_rule,
                "template": saved.template}
        export_onnx(h.weights, c.head, meta)
    return folder.write_result(saved)


def load_result(out: Path | str) -> SavedResult:
    return ExportFolder(out).read_result()


def update_criterion(out: Path | str, index: int, weights: HeadWeights | None, names: list[str],
                     values: list[str] | None = None) -> None:
    """Replace one criterion's head (None: keep it), cluster names and which of them are values (None: keep
    the list): what was learnt from corrections.

    The head's metadata is kept (prompt, place, model...), with the new names; `assign` then sorts new
    photos with what was learnt.
    """
    folder = ExportFolder(out)
    criterion = folder.read_result().criteria[index]
    if weights is not None:
        export_onnx(weights, criterion.head, dict(OnnxHead(criterion.head).metadata, names=list(names)))
    else:
        rewrite_metadata(criterion.head, {"names": list(names)})
    folder.update_result(index, names, values)


def load_heads(saved: SavedResult, model_fingerprint: str) -> list[OnnxHead]:
    return [OnnxHead(c.head, expected_fingerprint=model_fingerprint) for c in saved.criteria]
