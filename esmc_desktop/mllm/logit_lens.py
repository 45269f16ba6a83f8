"""The logit lens as ESMC's reference code computes it, on the GGUF's own LM head.

logits = W_u · h (the raw block output, no final norm by default), log-softmax,
keep the top-k tokens, renormalize over them. At the last block the lens
applies the model's final RMSNorm first, as the model's own output does (and
as Hugging Face's `hidden_states[-1]` holds it): there the lens is the model's
next-token distribution, not a reading of a state the head never sees raw. The result is a sparse
probability vector over the vocabulary: k indices and k values per token.

W_u is `output.weight` of the GGUF, read where it lies: each projection reads it from the
file a block of rows at a time (from the page cache: llama.cpp maps the same file),
dequantizes the block with ggml's own `to_float` (the values gguf-py's dequantizer
gives, for any llama.cpp type) into a small f32 buffer, multiplies, keeps the best k
logits per row and drops the block. The lens so holds no copy of the head at all
(an f32 one was 500 MiB for LLaVA-1.5-7b) and the arithmetic stays f32: the top-k
are the same tokens with the same probabilities as from a fully dequantized matrix.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import gguf
import numpy as np
from scipy import sparse

from esmc_desktop.errors import ModelFileError
from esmc_desktop.mllm.gguf_files import LM_BLOCK_COUNT, LM_RMS_EPS, GgufFile

DEFAULT_TOP_K = 50
ROWS_PER_BLOCK = 1024  # rows of W_u dequantized at a time: 16 MiB of f32 at LLaVA's width of 4096
MAX_WORKERS = 4  # blocks dequantized at once (ggml's to_float runs without the GIL)


@dataclass(frozen=True)
class LensParams:
    """How hidden states become vocabulary distributions (reference defaults)."""

    top_k: int = DEFAULT_TOP_K
    final_norm: bool = False

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")


@dataclass(frozen=True)
class SparseLens:
    """Top-k vocabulary probabilities of n hidden states: rows of (indices, values)."""

    indices: np.ndarray  # (n, k) int32, most probable first
    values: np.ndarray  # (n, k) float32, each row sums to 1
    n_vocab: int

    def to_csr(self) -> sparse.csr_matrix:
        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k)
        return sparse.csr_matrix((self.values.ravel(), self.indices.ravel(), indptr), shape=(n, self.n_vocab))

    def prob_of(self, token_ids: np.ndarray) -> np.ndarray:
        """(n, len(token_ids)) probabilities of the given tokens (0 outside the top-k)."""
        token_ids = np.asarray(token_ids)
        hit = self.indices[:, :, None] == token_ids[None, None, :]
        return (hit * self.values[:, :, None]).sum(axis=1)


def _dequantized(file: GgufFile, name: str) -> np.ndarray:
    for tensor in file.reader.tensors:
        if tensor.name == name:
            data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            return np.asarray(data, dtype=np.float32).reshape(tuple(int(d) for d in reversed(tensor.shape)))
    raise ModelFileError(f"{file.path.name} has no tensor {name}")


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class _TypeTraits(ctypes.Structure):
    """`struct ggml_type_traits` (ggml.h)."""

    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64), ("blck_size_interleave", ctypes.c_int64),
                ("type_size", ctypes.c_size_t), ("is_quantized", ctypes.c_bool), ("to_float", _TO_FLOAT),
                ("from_float_ref", ctypes.c_void_p)]


def _ggml_to_float(ggml_type: int):
    """ggml's dequantizer of one llama.cpp tensor type: to_float(src, dst, n_values)."""
    from esmc_desktop.mllm.capture import load_ggml_library

    lib = load_ggml_library("ggml-base")
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
    traits = lib.ggml_get_type_traits(int(ggml_type)).contents
    if not traits.to_float:
        raise ModelFileError(f"llama.cpp cannot read tensors of type {traits.type_name.decode()}")
    return traits.to_float


class FileHead:
    """W_u in its file form, read from the model file a block of rows at a time; `rows` gives them as f32.

    Read, not memory-mapped: llama.cpp maps the whole file (and pre-faults it), so the head's pages are in
    memory already; a second mapping would count them twice in this process's RSS, a read copies a block
    out of the page cache into a buffer dropped after use.
    """

    def __init__(self, path: Path, offset: int, n_rows: int, row_bytes: int, ggml_type: int, n_cols: int) -> None:
        self.path = path
        self.offset, self.row_bytes = offset, row_bytes
        self.shape = (n_rows, n_cols)
        self._f32 = ggml_type == gguf.GGMLQuantizationType.F32
        self._to_float = None if self._f32 else _ggml_to_float(ggml_type)

    @classmethod
    def from_gguf(cls, file: GgufFile, name: str) -> "FileHead":
        for tensor in file.reader.tensors:
            if tensor.name == name:
                n_rows = int(tensor.shape[1])
                return cls(file.path, int(tensor.data_offset), n_rows, int(tensor.n_bytes) // n_rows,
                           tensor.tensor_type, int(tensor.shape[0]))
        raise ModelFileError(f"{file.path.name} has no tensor {name}")

    @property
    def nbytes(self) -> int:
        """Bytes of the head in the file."""
        return self.shape[0] * self.row_bytes

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 as an (n, n_cols) float32 array."""
        raw = np.empty((stop - start) * self.row_bytes, np.uint8)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            if f.readinto(memoryview(raw)) != raw.size:
                raise ModelFileError(f"{self.path.name} is shorter than its LM head says; is it damaged?")
        if self._f32:
            return raw.view(np.float32).reshape(stop - start, self.shape[1])
        out = np.empty((stop - start, self.shape[1]), np.float32)
        self._to_float(raw.ctypes.data, out.ctypes.data, out.size)
        return out


class LogitLens:
    """Projects hidden states to sparse vocabulary distributions with the model's own head."""

    def __init__(self, head: FileHead, norm_weight: np.ndarray, n_blocks: int,
                 params: LensParams = LensParams(), eps: float = 1e-5) -> None:
        self.head = head
        self.norm_weight = norm_weight
        self.n_blocks = n_blocks
        self.params = params
        self.eps = eps
        if params.top_k > self.n_vocab:
            raise ValueError(f"top_k={params.top_k} exceeds the vocabulary size {self.n_vocab}")
        self._workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS))

    @property
    def n_vocab(self) -> int:
        return self.head.shape[0]

    @property
    def n_embd(self) -> int:
        return self.head.shape[1]

    @classmethod
    def from_gguf(cls, lm: Path | str | GgufFile, params: LensParams = LensParams()) -> "LogitLens":
        """The head (and the final norm) of an LM GGUF; tied embeddings are handled.

        A GgufFile (a model session's) is not opened again: its header and fingerprint are reused."""
        file = lm if isinstance(lm, GgufFile) else GgufFile(lm)
        lm_path, reader = file.path, file.reader
        names = {t.name for t in reader.tensors}
        head = "output.weight" if "output.weight" in names else "token_embd.weight"
        eps_field = reader.get_field(LM_RMS_EPS)
        eps = float(eps_field.contents()) if eps_field is not None else 1e-5
        blocks_field = reader.get_field(LM_BLOCK_COUNT)
        if blocks_field is None:
            raise ModelFileError(f"{lm_path.name} does not say how many blocks it has ({LM_BLOCK_COUNT})")
        norm = _dequantized(file, "output_norm.weight")
        return cls(FileHead.from_gguf(file, head), norm, int(blocks_field.contents()), params, eps)

    def _normed(self, hidden: np.ndarray, normed: np.ndarray | bool) -> np.ndarray:
        """Rows as f32; rows marked `normed` (and all rows with final_norm) through the final RMSNorm."""
        h = np.asarray(hidden, dtype=np.float32).reshape(-1, self.n_embd)
        normed = np.broadcast_to(np.asarray(normed) | self.params.final_norm, (len(h),))
        if normed.any():
            h = h.copy()
            rows = h[normed]
            h[normed] = rows / np.sqrt((rows * rows).mean(axis=1, keepdims=True) + self.eps) * self.norm_weight
        return h

    def _blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, f32 rows) of W_u, block by block in order; a few blocks are dequantized at once."""
        starts = range(0, self.n_vocab, ROWS_PER_BLOCK)
        with ThreadPoolExecutor(self._workers, thread_name_prefix="lens") as pool:
            for first in range(0, len(starts), self._workers):
                window = starts[first:first + self._workers]
                blocks = [pool.submit(self.head.rows, a, min(a + ROWS_PER_BLOCK, self.n_vocab)) for a in window]
                for a, block in zip(window, blocks):
                    yield a, block.result()

    def logits(self, hidden: np.ndarray, normed: np.ndarray | bool = False) -> np.ndarray:
        """W_u · h per row (all n_vocab of them); rows marked `normed` (and all rows with final_norm) get the
        final RMSNorm first."""
        h = self._normed(hidden, normed)
        out = np.empty((len(h), self.n_vocab), np.float32)
        for a, block in self._blocks():
            out[:, a:a + len(block)] = h @ block.T
        return out

    def _top_logits(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The top_k logits of each row and their token ids, unordered: W_u is read once, a block at a time,
        and only the best k so far are kept beside the block (never an n x n_vocab matrix)."""
        k = self.params.top_k
        best = np.empty((len(h), 0), np.float32)
        ids = np.empty((len(h), 0), np.int64)
        for a, block in self._blocks():
            best = np.concatenate([best, h @ block.T], axis=1)
            ids = np.concatenate([ids, np.broadcast_to(np.arange(a, a + len(block)), (len(h), len(block)))], axis=1)
            if best.shape[1] > k:
                keep = np.argpartition(-best, k - 1, axis=1)[:, :k]
                best, ids = np.take_along_axis(best, keep, 1), np.take_along_axis(ids, keep, 1)
        return best, ids

    def project(self, hidden: np.ndarray, blocks: int | Sequence[int], chunk: int = 1024) -> SparseLens:
        """Sparse top-k distributions of each row of `hidden`, read at the given block(s).

        `blocks`: the block every row comes from, or one block per entry of hidden's first axis (the
        runtime's states: blocks x positions x width). Rows of the last block get the final norm.
        W_u is read once per `chunk` rows.
        """
        h = np.asarray(hidden, dtype=np.float32)
        if isinstance(blocks, (int, np.integer)):
            last = np.full(h.reshape(-1, self.n_embd).shape[0], int(blocks) == self.n_blocks - 1)
        else:
            if len(blocks) != h.shape[0]:
                raise ValueError(f"{len(blocks)} blocks named for {h.shape[0]} rows of hidden states")
            per = int(np.prod(h.shape[1:-1], dtype=int))
            last = np.repeat(np.asarray(blocks) == self.n_blocks - 1, per)
        h = h.reshape(-1, self.n_embd)
        k = self.params.top_k
        idx_out = np.empty((len(h), k), np.int32)
        val_out = np.empty((len(h), k), np.float32)
        for start in range(0, len(h), chunk):
            top_logits, top = self._top_logits(self._normed(h[start:start + chunk], last[start:start + chunk]))
            order = np.argsort(-top_logits, axis=1)
            top, top_logits = np.take_along_axis(top, order, 1), np.take_along_axis(top_logits, order, 1)
            z = np.exp(top_logits - top_logits[:, :1])
            idx_out[start:start + chunk] = top
            val_out[start:start + chunk] = z / z.sum(axis=1, keepdims=True)
        return SparseLens(idx_out, val_out, self.n_vocab)
