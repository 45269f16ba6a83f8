"""A sort's result kept next to its exported folders, so new photos can be assigned later and learnt from.

OUT/.esmc/result.json says which model, prompts, targets and names were used;
OUT/.esmc/criterion-<n>.onnx holds each criterion's head (with the same metadata inside). This module is
the one mapping between a result and those files: `save_sort` writes a sort's result, `load_result` and
`load_heads` read it back (for `assign`), `update_criterion` writes what learning changed. Where the files
are and result.json's format belong to the export folder (photos/export_folder/); this module adds the
heads, which need the method.

It sits below the application layer, because the engine's `assign` loads the heads through it. So it
does not import the app's SortResult: it names what it reads of a result (`ResultToSave`,
`CriterionToSave`, both Protocols), and the app's SortResult and CriterionClusters are such objects.
The mapping to disk lives here, beside the reading back, and nothing below the app reaches up to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx, rewrite_metadata
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.photos.export_folder import ExportFolder, SavedCriterion, SavedResult

__all__ = ["CriterionToSave", "ResultToSave", "load_heads", "load_result", "save_sort", "update_criterion"]


class CriterionToSave(Protocol):
    """What is saved of one criterion: where it was read, its clusters as the user left them, and its head."""

    @property
    def text(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def layer(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def where_read(self) -> str: ...  # how the place was found, in words
    @property
    def localization_rule(self) -> str: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def values(self) -> list[str]: ...  # the clusters that are values, by name
    @property
    def weights(self) -> HeadWeights: ...


class ResultToSave(Protocol):
    """What is saved of a sort: the model pair and how it was read, and its criteria in order."""

    @property
    def lm(self) -> Path: ...
    @property
    def mmproj(self) -> Path: ...
    @property
    def model_fingerprint(self) -> str: ...
    @property
    def lens(self) -> LensParams: ...
    @property
    def template(self) -> str: ...
    @property
    def criteria(self) -> Sequence[CriterionToSave]: ...


def save_sort(out: Path | str, result: ResultToSave) -> Path:
    """Write each criterion's head under OUT/.esmc/, with the criterion and the model in its metadata, then
    result.json (the names are the user's renames, the values those still values); returns result.json's path."""
    folder = ExportFolder(out)
    folder.make_state()
    lm, mmproj, lens = Path(result.lm).resolve(), Path(result.mmproj).resolve(), result.lens
    criteria = []
    for n, c in enumerate(result.criteria):
        saved = SavedCriterion(c.text, c.prompt, c.layer, c.position, list(c.names), folder.head_path(n),
                               [name for name in c.names if name in c.values])
        export_onnx(c.weights, saved.head, {
            "criterion": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
            "names": list(c.names), "keywords": c.keywords, "model_fingerprint": result.model_fingerprint,
            "lens_top_k": lens.top_k, "lens_final_norm": lens.final_norm, "localization": c.where_read,
            "localization_rule": c.localization_rule, "template": result.template})
        criteria.append(saved)
    return folder.write_result(SavedResult(lm, mmproj, result.model_fingerprint, lens.top_k, lens.final_norm,
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
