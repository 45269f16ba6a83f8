"""The logit lens as ESMC's reference code computes it, on the GGUF's own LM head.

logits = W_u · h (the raw block output, no final norm by default), log-softmax,
keep the top-k tokens, renormalize over them. At the last block the lens
applies the model's final RMSNorm first, as the model's own output does (and
as Hugging Face's `hidden_states[-1]` holds it): there the lens is the model's
next-token distribution, not a reading of a state the head never sees raw. The result is a sparse
probability vector over the vocabulary: k indices and k values per token.
W_u is `output.weight` of the GGUF, dequantized by gguf-py (any llama.cpp
type), and cached as .npy so later loads are a memory map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import gguf
import numpy as np
from scipy import sparse

from esmc_desktop.errors import ModelFileError
from esmc_desktop.files import atomic_path, move_aside
from esmc_desktop.mllm.gguf_files import LM_BLOCK_COUNT, LM_RMS_EPS, GgufFile

DEFAULT_TOP_K = 50


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


def _cached_matrix(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached W_u as a memory map, or None when there is none; a damaged one is moved aside."""
    if not path.is_file():
        return None
    try:
        w = np.load(path, mmap_mode="r")
        if w.shape == shape and w.dtype == np.float32:
            return w
        why = f"holds a {w.shape} {w.dtype} matrix where {shape} float32 was expected"
        del w  # unmap before the rename (Windows refuses to rename a mapped file)
    except (ValueError, OSError, EOFError) as exc:  # numpy's words for garbage and for a file cut short
        why = f"cannot be read ({exc})"
    move_aside(path, f"is a damaged unembedding-matrix cache: it {why}")
    return None


class LogitLens:
    """Projects hidden states to sparse vocabulary distributions with the model's own head."""

    def __init__(self, unembedding: np.ndarray, norm_weight: np.ndarray, n_blocks: int,
                 params: LensParams = LensParams(), eps: float = 1e-5) -> None:
        self.w = unembedding
        self.norm_weight = norm_weight
        self.n_blocks = n_blocks
        self.params = params
        self.eps = eps
        if params.top_k > self.n_vocab:
            raise ValueError(f"top_k={params.top_k} exceeds the vocabulary size {self.n_vocab}")

    @property
    def n_vocab(self) -> int:
        return self.w.shape[0]

    @classmethod
    def from_gguf(cls, lm: Path | str | GgufFile, params: LensParams = LensParams(),
                  cache_dir: Path | str | None = None) -> "LogitLens":
        """Load W_u (and the final norm) from an LM GGUF; tied embeddings are handled.

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
        shape = next(tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors if t.name == head)
        w = None
        cache_file = None
        if cache_dir is not None:
            cache_file = Path(cache_dir) / f"unembedding-{file.fingerprint}.npy"
            w = _cached_matrix(cache_file, shape)
        if w is None:
            w = _dequantized(file, head)
            if cache_file is not None:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(cache_file) as tmp:
                    with open(tmp, "wb") as f:
                        np.save(f, w)
        norm = _dequantized(file, "output_norm.weight")
        return cls(w, norm, int(blocks_field.contents()), params, eps)

    def logits(self, hidden: np.ndarray, normed: np.ndarray | bool = False) -> np.ndarray:
        """W_u · h per row; rows marked `normed` (and all rows with final_norm) get the final RMSNorm first."""
        h = np.asarray(hidden, dtype=np.float32).reshape(-1, self.w.shape[1])
        normed = np.broadcast_to(np.asarray(normed) | self.params.final_norm, (len(h),))
        if normed.any():
            h = h.copy()
            rows = h[normed]
            h[normed] = rows / np.sqrt((rows * rows).mean(axis=1, keepdims=True) + self.eps) * self.norm_weight
        return h @ self.w.T

    def project(self, hidden: np.ndarray, blocks: int | Sequence[int], chunk: int = 256) -> SparseLens:
        """Sparse top-k distributions of each row of `hidden`, read at the given block(s).

        `blocks`: the block every row comes from, or one block per entry of hidden's first axis (the
        runtime's states: blocks x positions x width). Rows of the last block get the final norm.
        """
        h = np.asarray(hidden, dtype=np.float32)
        if isinstance(blocks, (int, np.integer)):
            last = np.full(h.reshape(-1, self.w.shape[1]).shape[0], int(blocks) == self.n_blocks - 1)
        else:
            if len(blocks) != h.shape[0]:
                raise ValueError(f"{len(blocks)} blocks named for {h.shape[0]} rows of hidden states")
            per = int(np.prod(h.shape[1:-1], dtype=int))
            last = np.repeat(np.asarray(blocks) == self.n_blocks - 1, per)
        h = h.reshape(-1, self.w.shape[1])
        k = self.params.top_k
        idx_out = np.empty((len(h), k), np.int32)
        val_out = np.empty((len(h), k), np.float32)
        for start in range(0, len(h), chunk):
            logits = self.logits(h[start:start + chunk], last[start:start + chunk])
            top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
            top_logits = np.take_along_axis(logits, top, axis=1)
            order = np.argsort(-top_logits, axis=1)
            top, top_logits = np.take_along_axis(top, order, 1), np.take_along_axis(top_logits, order, 1)
            z = np.exp(top_logits - top_logits[:, :1])
            idx_out[start:start + chunk] = top
            val_out[start:start + chunk] = z / z.sum(axis=1, keepdims=True)
        return SparseLens(idx_out, val_out, self.n_vocab)
