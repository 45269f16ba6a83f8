"""Put LLaVA's [CLS] token back in front of the patches inside llama.cpp's CLIP graph.

The llama.cpp we pin (llama-cpp-python 0.3.36) builds the LLaVA vision graph
with the class embedding concatenated AFTER the patch embeddings, while its
inputs still assume CLS first (positions 0..n in order, output rows 1..n).
So each patch gets its neighbour's position embedding, patch 0 is dropped and
the projected CLS is fed to the LM as an image token (upstream issue #25814,
fix PR #25844 not merged). Measured on our tiny LLaVA: per-token cosine to
transformers' image features between -0.3 and 0.6.

No GGUF rewrite can undo that (the row selection is fixed), so we fix it where
it happens: the clip context's eval callback observes the CONCAT node, and
when its last row is the class embedding, rotates the rows so CLS comes first
and writes them back before the rest of the graph reads them. If a future
llama.cpp puts CLS first itself, the check sees row 0 is the class embedding
and leaves the tensor alone.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from esmc_desktop.mllm import interrupts
from esmc_desktop.mllm.capture import _ggml_base_library, read_f32_matrix
from esmc_desktop.mllm.gguf_files import GgufFile

CLASS_EMBEDDING = "v.class_embd"


def class_embedding(mmproj: Path | str | GgufFile) -> np.ndarray | None:
    file = mmproj if isinstance(mmproj, GgufFile) else GgufFile(mmproj)
    for tensor in file.reader.tensors:
        if tensor.name == CLASS_EMBEDDING:
            return np.asarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type), np.float32).reshape(-1)
    return None


class ClsOrderFix:
    """Eval callback for the mtmd/clip context; counts what it saw and fixed."""

    def __init__(self, cls: np.ndarray) -> None:
        import llama_cpp

        self._lib = _ggml_base_library()
        self._cls = cls
        self.fixed = 0
        self.already_first = 0
        self.error: BaseException | None = None
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_tensor)

    def _matches(self, row: np.ndarray) -> bool:
        return bool(np.allclose(row, self._cls, rtol=1e-2, atol=1e-3 * (np.abs(self._cls).max() + 1e-6)))

    @interrupts.c_callback
    def _on_tensor(self, tensor: int, ask: bool, _user_data: int) -> bool:
        try:
            is_concat = self._lib.ggml_op_desc(tensor) == b"CONCAT"
            if ask:
                return is_concat
            if not is_concat:
                return True
            rows = read_f32_matrix(self._lib, tensor)
            if rows.shape[1] != self._cls.shape[0] or len(rows) < 2:
                return True
            if self._matches(rows[-1]) and not self._matches(rows[0]):
                fixed = np.ascontiguousarray(np.roll(rows, 1, axis=0))
                self._lib.ggml_backend_tensor_set(tensor, fixed.ctypes.data, 0, fixed.nbytes)
                self.fixed += 1
            elif self._matches(rows[0]):
                self.already_first += 1
        except BaseException as exc:  # never let an exception cross into C; an interrupt is raised after it
            if not interrupts.hold(exc):
                self.error = exc
        return True
