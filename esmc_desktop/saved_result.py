"""A clustering result kept next to its exported folders, so new photos can be assigned later.

OUT/.esmc/result.json says which model, prompts, targets and names were used;
OUT/.esmc/criterion-<n>.onnx holds each criterion's head (with the same metadata inside). Where they
are and result.json's format belong to the export folder (photos/export_folder/); this module adds
the heads, which need the method.
"""

from __future__ import annotations

from pathlib import Path

from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx, rewrite_metadata
from esmc_desktop.photos.export_folder import ExportFolder, SavedCriterion, SavedResult

__all__ = ["load_heads", "load_result", "save_result", "update_criterion"]


def save_result(result, out: Path | str) -> Path:
    """Write result.json and one ONNX head per criterion under OUT/.esmc/, from an app.result.SortResult.

    Each criterion's names (the user's renames), prompt, target and head come from the same object.
    """
    folder = ExportFolder(out)
    folder.make_state()
    criteria = []
    for n, c in enumerate(result.criteria):
        head = folder.head_path(n)
        meta = {"criterion": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
                "names": list(c.names), "keywords": c.keywords, "model_fingerprint": result.model_fingerprint,
                "lens_top_k": result.lens.top_k, "lens_final_norm": result.lens.final_norm,
                "localization": c.where_read, "localization_rule": c.computed.localization.rule,
                "template": result.template}
        export_onnx(c.weights, head, meta)
        criteria.append(SavedCriterion(c.text, c.prompt, c.layer, c.position, list(c.names), head,
                                       [n for n in c.names if n in c.values]))  # which clusters are values
    return folder.write_result(SavedResult(Path(result.lm).resolve(), Path(result.mmproj).resolve(),
                                           result.model_fingerprint, result.lens.top_k, result.lens.final_norm,
                                           criteria, result.template))


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
