"""A clustering result kept next to its exported folders, so new photos can be assigned later.

OUT/.esmc/result.json says which model, prompts, targets and names were used;
OUT/.esmc/<n>.onnx holds each criterion's head (with the same metadata inside).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from esmc_desktop.errors import EsmcError
from esmc_desktop.files import write_atomic
from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.onnx_head import OnnxHead, export_onnx, rewrite_metadata
from esmc_desktop.photos.export import STATE_DIR

RESULT_FILE = "result.json"
LEGACY_TEMPLATE = "llava-hf"  # results saved before the template was recorded were read in this format


@dataclass(frozen=True)
class SavedCriterion:
    text: str
    prompt: str
    layer: int
    position: int
    names: list[str]
    head: Path
    values: list[str] = field(default_factory=list)  # the names that are named values (`cluster --values`)


@dataclass(frozen=True)
class SavedResult:
    lm: Path
    mmproj: Path
    model_fingerprint: str
    lens_top_k: int
    lens_final_norm: bool
    criteria: list[SavedCriterion]
    template: str  # the chat template the heads were trained on; new photos must be read in it too


def save_result(result, out: Path | str) -> Path:
    """Write result.json and one ONNX head per criterion under OUT/.esmc/, from an app.result.SortResult.

    Each criterion's names (the user's renames), prompt, target and head come from the same object.
    """
    state = Path(out) / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    criteria = []
    for n, c in enumerate(result.criteria):
        head = state / f"criterion-{n + 1}.onnx"
        meta = {"criterion": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
                "names": list(c.names), "keywords": c.keywords, "model_fingerprint": result.model_fingerprint,
                "lens_top_k": result.lens.top_k, "lens_final_norm": result.lens.final_norm,
                "localization": c.where_read, "localization_rule": c.computed.localization.rule,
                "template": result.template}
        export_onnx(c.weights, head, meta)
        criteria.append({"text": c.text, "prompt": c.prompt, "layer": c.layer, "position": c.position,
                         "names": list(c.names), "head": head.name,
                         "values": [n for n in c.names if n in c.values]})  # which clusters are values
    data = {"lm": str(Path(result.lm).resolve()), "mmproj": str(Path(result.mmproj).resolve()),
            "model_fingerprint": result.model_fingerprint, "lens_top_k": result.lens.top_k,
            "lens_final_norm": result.lens.final_norm, "template": result.template, "criteria": criteria}
    path = state / RESULT_FILE
    write_atomic(path, json.dumps(data, indent=2))
    return path


def load_result(out: Path | str) -> SavedResult:
    path = Path(out) / STATE_DIR / RESULT_FILE
    if not path.is_file():
        raise EsmcError(f"{out} holds no saved clustering ({path} is missing); run `esmc-desktop cluster` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        criteria = [SavedCriterion(c["text"], c["prompt"], int(c["layer"]), int(c["position"]), list(c["names"]),
                                   path.parent / c["head"], list(c.get("values", []))) for c in data["criteria"]]
        return SavedResult(Path(data["lm"]), Path(data["mmproj"]), data["model_fingerprint"],
                           int(data["lens_top_k"]), bool(data["lens_final_norm"]), criteria,
                           data.get("template", LEGACY_TEMPLATE))
    except (ValueError, KeyError, TypeError) as exc:
        raise EsmcError(f"{path} is damaged ({exc})") from exc


def update_criterion(out: Path | str, index: int, weights: HeadWeights | None, names: list[str],
                     values: list[str] | None = None) -> None:
    """Replace one criterion's head (None: keep it), cluster names and which of them are values (None: keep
    the list): what was learnt from corrections.

    The head's metadata is kept (prompt, place, model...), with the new names; `assign` then sorts new
    photos with what was learnt.
    """
    saved = load_result(out)
    criterion = saved.criteria[index]
    if weights is not None:
        export_onnx(weights, criterion.head, dict(OnnxHead(criterion.head).metadata, names=list(names)))
    else:
        rewrite_metadata(criterion.head, {"names": list(names)})
    path = Path(out) / STATE_DIR / RESULT_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["criteria"][index]["names"] = list(names)
    if values is not None:
        data["criteria"][index]["values"] = list(values)
    write_atomic(path, json.dumps(data, indent=2))


def load_heads(saved: SavedResult, model_fingerprint: str) -> list[OnnxHead]:
    return [OnnxHead(c.head, expected_fingerprint=model_fingerprint) for c in saved.criteria]
