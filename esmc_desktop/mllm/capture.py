"""Copy decoder block outputs out of llama.cpp while it computes.

llama.cpp names each decoder block's output `l_out-<i>` and lets a context
register a ggml eval callback: asked once per graph node whether we want it,
then handed the computed tensor. We answer yes only for the requested blocks
and only while armed (during the prompt tokens, never during the image), and
copy the rows with `ggml_backend_tensor_get`, which works for CPU and GPU
buffers alike.

The same callback ends a computation early: returning false after a node
makes llama.cpp's scheduler skip the rest of the graph. After the deepest
block that is read nothing later is needed (not the later blocks, not the LM
head), so `stop_after` cuts each decode there. Later blocks' KV entries are
then never written; nothing reads them as long as every decode of a photo
stops at the same block or earlier. A llama.cpp that ignores the answer
shows itself by asking about a node past the stop; `stop_ignored` then says
so and the caller runs the full graph from then on (the copied rows are
right either way: they are taken before the stop).
"""

from __future__ import annotations

import ctypes
import re
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

from esmc_desktop.mllm import interrupts

GGML_TYPE_F32 = 0
LAYER_OUTPUT_PREFIX = b"l_out-"
_LAYER_OUTPUT = re.compile(rb"l_out-(\d+)$")
_AFTER_LAST_BLOCK = frozenset({b"result_norm", b"result_output"})  # the LM head's nodes


class _TensorHead(ctypes.Structure):
    """The leading fields of `struct ggml_tensor` (ggml.h); the rest is never touched."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
    ]


def load_ggml_library(stem: str) -> ctypes.CDLL:
    """One of llama-cpp-python's bundled ggml libraries, e.g. 'ggml-base' or 'ggml'."""
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    name = {"win32": f"{stem}.dll", "darwin": f"lib{stem}.dylib"}.get(sys.platform, f"lib{stem}.so")
    if not (lib_dir / name).exists():
        raise RuntimeError(f"{name} not found in {lib_dir}; is llama-cpp-python installed correctly?")
    return ctypes.CDLL(str(lib_dir / name))


def _ggml_base_library() -> ctypes.CDLL:
    lib = load_ggml_library("ggml-base")
    lib.ggml_get_name.argtypes = [ctypes.c_void_p]
    lib.ggml_get_name.restype = ctypes.c_char_p
    lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.ggml_backend_tensor_get.restype = None
    lib.ggml_backend_tensor_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.ggml_backend_tensor_set.restype = None
    lib.ggml_op_desc.argtypes = [ctypes.c_void_p]
    lib.ggml_op_desc.restype = ctypes.c_char_p
    return lib


def read_f32_matrix(lib: ctypes.CDLL, tensor: int) -> np.ndarray:
    """A contiguous 2-D f32 ggml tensor as an (ne[1], ne[0]) array copy."""
    head = _TensorHead.from_address(tensor)
    if head.type != GGML_TYPE_F32:
        raise RuntimeError(f"tensor has ggml type {head.type}, expected f32")
    n_cols, n_rows = int(head.ne[0]), int(head.ne[1])
    if head.nb[1] != n_cols * 4 or head.ne[2] * head.ne[3] != 1:
        raise RuntimeError("tensor is not a contiguous 2-D tensor")
    out = np.empty((n_rows, n_cols), dtype=np.float32)
    lib.ggml_backend_tensor_get(tensor, out.ctypes.data, 0, out.nbytes)
    return out


class HiddenStateCapture:
    """Collects the outputs of chosen decoder blocks, in row order, while armed.

    Pass `callback` as the context's `cb_eval`. Each decode appends one array
    per block (rows = the tokens computed in that micro-batch); `take()`
    concatenates and resets.
    """

    def __init__(self, layers: Iterable[int]) -> None:
        import llama_cpp

        self._lib = _ggml_base_library()
        self.set_layers(layers)
        self._error: BaseException | None = None
        self.armed = False
        self.stop_after: int | None = None
        self.stop_ignored = False
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_tensor)

    def set_layers(self, layers: Iterable[int]) -> None:
        """Capture these blocks from the next decode on (the callback itself stays registered)."""
        self._wanted = {LAYER_OUTPUT_PREFIX + str(i).encode(): i for i in layers}
        self._rows: dict[int, list[np.ndarray]] = {i: [] for i in self._wanted.values()}

    @interrupts.c_callback
    def _on_tensor(self, tensor: int, ask: bool, _user_data: int) -> bool:
        try:
            if interrupts.pending():
                return ask  # want the next node, then stop the computation there
            if not self.armed and self.stop_after is None:
                return not ask  # never ask for nodes; never stop a computation
            return self.on_node(self._lib.ggml_get_name(tensor), ask, tensor)
        except BaseException as exc:  # an exception must not cross into C; an interrupt is raised after it
            if not interrupts.hold(exc):
                self._error = exc
            return ask if interrupts.pending() else not ask

    def on_node(self, name: bytes, ask: bool, tensor: int | None = None) -> bool:
        """The callback's answer for the node called `name`: want it (ask), or go on computing (not ask)."""
        stop = self.stop_after is not None and name == LAYER_OUTPUT_PREFIX + str(self.stop_after).encode()
        if self.stop_after is not None and self._past_stop(name):
            self.stop_ignored = True
        layer = self._wanted.get(name) if self.armed else None
        if ask:
            return layer is not None or stop
        if layer is not None:
            self._rows[layer].append(read_f32_matrix(self._lib, tensor))
        return not stop

    def _past_stop(self, name: bytes) -> bool:
        if name in _AFTER_LAST_BLOCK:
            return True
        match = _LAYER_OUTPUT.match(name)
        return match is not None and int(match.group(1)) > self.stop_after

    def take(self) -> dict[int, np.ndarray]:
        """The rows captured since the last call, per block index; resets."""
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"hidden-state capture failed: {error}") from error
        out = {i: np.concatenate(rows) if rows else np.empty((0, 0), np.float32) for i, rows in self._rows.items()}
        self._rows = {i: [] for i in self._rows}
        return out
