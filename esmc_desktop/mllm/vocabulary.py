"""A model's vocabulary through llama.cpp: text to token ids and ids to their pieces, exactly as the model reads.

`Tokenizing` is the one place that calls llama.cpp's tokenizer; the runtime tokenizes through it with
its loaded model, and `Vocabulary` opens a GGUF's vocabulary alone (llama.cpp's `vocab_only`, which
loads no weights: milliseconds for LLaMA's 32,000 tokens). The tests read keywords and lens tokens on
LLaMA's real SentencePiece vocabulary this way (llama.cpp's `ggml-vocab-llama-spm.gguf`, the vocabulary
of Vicuna-7B and so of LLaVA-1.5-7b).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from esmc_desktop.errors import ModelFileError


class Tokenizing:
    """Text to token ids and back through llama.cpp, for a class that owns a vocabulary handle.

    The owner sets `_llama` (the llama_cpp module) and `_vocab` (its model's vocabulary) and says in
    `_require_open` whether they are still valid.
    """

    _llama: Any
    _vocab: Any

    def _require_open(self) -> None:
        raise NotImplementedError

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Token ids of `text`, special tokens parsed (the chat template's `</s>` is one token)."""
        self._require_open()
        raw = text.encode("utf-8")
        capacity = len(raw) + 8
        buf = (self._llama.llama_token * capacity)()
        n = self._llama.llama_tokenize(self._vocab, raw, len(raw), buf, capacity, add_bos, True)
        if n < 0:
            capacity = -n
            buf = (self._llama.llama_token * capacity)()
            n = self._llama.llama_tokenize(self._vocab, raw, len(raw), buf, capacity, add_bos, True)
        return list(buf[:n])

    def token_text(self, token_id: int) -> str:
        """The text a token stands for, its leading space included (SentencePiece's '▁' as ' ')."""
        self._require_open()
        buf = ctypes.create_string_buffer(64)
        n = self._llama.llama_token_to_piece(self._vocab, token_id, buf, len(buf), 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._llama.llama_token_to_piece(self._vocab, token_id, buf, len(buf), 0, True)
        return buf.raw[:n].decode("utf-8", "replace")


class Vocabulary(Tokenizing):
    """A GGUF's vocabulary without its weights; one owner of the vocab-only model handle."""

    def __init__(self, path: Path | str) -> None:
        import llama_cpp

        from esmc_desktop.mllm.logs import route_llama_logs

        route_llama_logs()
        self._llama = llama_cpp
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise ModelFileError(f"{path} holds no vocabulary llama.cpp can read")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))

    def _require_open(self) -> None:
        if self._model is None:
            raise RuntimeError("this Vocabulary is closed")

    def close(self) -> None:
        if self._model is not None:
            self._llama.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> "Vocabulary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
