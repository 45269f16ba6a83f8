"""Export a trained clustering head to ONNX with its metadata, and run it with onnxruntime.

The graph takes the sparse lens vectors as they are stored (top-k indices and
values per photo) and computes the same function as the dense |V| -> 512 -> K
MLP: a vocabulary id is mapped to its row of W1 (absent ids to a zero row),
rows are weighted by their probabilities (or, for a head learnt from corrections,
by their log features, `head.log_features`) and summed, then ReLU, W2, softmax.
Metadata (criterion, prompt, layer, position, K, names, model fingerprint,
lens parameters, whether its probabilities are confidences...) travels in the
file as JSON under the key "esmc".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from esmc_desktop.files import atomic_path
from esmc_desktop.method.head import HeadWeights
from esmc_desktop.method.validation import MethodInputError

METADATA_KEY = "esmc"
OPSET = 17


def export_onnx(weights: HeadWeights, path: Path | str, metadata: dict[str, Any]) -> None:
    """Write the head to `path` atomically (temp file, then rename)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_active, n_hidden = weights.w1.shape
    remap = np.full(weights.n_vocab, n_active, dtype=np.int64)
    remap[weights.active] = np.arange(n_active)
    w1 = np.vstack([weights.w1, np.zeros((1, n_hidden), np.float32)]).astype(np.float32)
    inits = [
        numpy_helper.from_array(remap, "remap"),
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(weights.b1.astype(np.float32), "b1"),
        numpy_helper.from_array(weights.w2.astype(np.float32), "w2"),
        numpy_helper.from_array(weights.b2.astype(np.float32), "b2"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Gather", ["remap", "indices"], ["rows"], axis=0),
        helper.make_node("Gather", ["w1", "rows"], ["w1_rows"], axis=0),
    ]
    inputs = "values"
    if weights.log_floor is not None:  # log(1 + p/floor) / log(1 + 1/floor), as head.log_features
        floor = weights.log_floor
        inits += [numpy_helper.from_array(np.array(1.0 / floor, np.float32), "per_floor"),
                  numpy_helper.from_array(np.array(1.0, np.float32), "one"),
                  numpy_helper.from_array(np.array(1.0 / np.log1p(1.0 / floor), np.float32), "log_scale")]
        nodes += [
            helper.make_node("Mul", ["values", "per_floor"], ["ratio"]),
            helper.make_node("Add", ["ratio", "one"], ["ratio1"]),
            helper.make_node("Log", ["ratio1"], ["log_ratio"]),
            helper.make_node("Mul", ["log_ratio", "log_scale"], ["log_values"]),
        ]
        inputs = "log_values"
    nodes += [
        helper.make_node("Unsqueeze", [inputs, "axis2"], ["values3"]),
        helper.make_node("Mul", ["w1_rows", "values3"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis1"], ["pre"], keepdims=0),
        helper.make_node("Add", ["pre", "b1"], ["pre_b"]),
        helper.make_node("Relu", ["pre_b"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "w2"], ["logits_nb"]),
        helper.make_node("Add", ["logits_nb", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "esmc_clustering_head",
        [helper.make_tensor_value_info("indices", TensorProto.INT64, ["n", "k"]),
         helper.make_tensor_value_info("values", TensorProto.FLOAT, ["n", "k"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", weights.w2.shape[1]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="esmc-desktop")
    meta = dict(metadata, n_clusters=int(weights.w2.shape[1]), n_vocab=int(weights.n_vocab),
                has_confidence=bool(weights.has_confidence), log_floor=weights.log_floor)
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)


def rewrite_metadata(path: Path | str, updates: dict[str, Any]) -> None:
    """Change a saved head's metadata (e.g. renamed clusters), weights untouched."""
    import onnx
    from onnx import helper

    model = onnx.load(path)
    props = {p.key: p.value for p in model.metadata_props}
    meta = dict(json.loads(props.get(METADATA_KEY, "{}")), **updates)
    del model.metadata_props[:]
    helper.set_model_props(model, dict(props, **{METADATA_KEY: json.dumps(meta)}))
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)


class OnnxHead:
    """A saved head, run by onnxruntime: assigns new photos without re-clustering."""

    def __init__(self, path: Path | str, expected_fingerprint: str | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise MethodInputError(f"clustering head not found: {self.path}")
        try:
            self._session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise MethodInputError(f"{self.path.name} is not a readable ONNX clustering head: {exc}") from exc
        props = self._session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise MethodInputError(f"{self.path.name} is an ONNX model but not an ESMC Desktop clustering head")
        self.metadata: dict[str, Any] = json.loads(props[METADATA_KEY])
        made_with = self.metadata.get("model_fingerprint")
        if expected_fingerprint is not None and made_with != expected_fingerprint:
            raise MethodInputError(
                f"{self.path.name} was made with another model (fingerprint {made_with}); the loaded model is "
                f"{expected_fingerprint}. Load the model it was made with, or cluster again.")

    @property
    def has_confidence(self) -> bool:
        """Whether the probabilities are confidences (False: a nearest-centroid head, they only rank)."""
        return bool(self.metadata.get("has_confidence", True))

    def predict_proba_sparse(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.metadata["n_vocab"]):
            raise MethodInputError("token ids outside this head's vocabulary: the vectors come from another model")
        return self._session.run(["probabilities"], {"indices": indices,
                                                      "values": np.asarray(values, dtype=np.float32)})[0]

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities for CSR rows with the same number of entries per row (top-k lens vectors)."""
        X = sparse.csr_matrix(X)
        per_row = np.diff(X.indptr)
        if len(set(per_row.tolist())) > 1:
            raise MethodInputError("every photo needs the same number of lens entries (top-k)")
        k = int(per_row[0]) if len(per_row) else 0
        return self.predict_proba_sparse(X.indices.reshape(-1, k), X.data.reshape(-1, k))
