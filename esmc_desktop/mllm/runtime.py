"""LLaVA through llama.cpp: encode a photo once, read hidden states at each prompt's tokens.

Sequence layout per photo: sequence 0 holds BOS, the template's text before
the image and the image (`<s>{system} USER: <image>`); each prompt of
a group is decoded in its own sequence 1..S after a KV copy of sequence 0, all
in one batch, so extra criteria cost only their few text tokens. The KV cache
is unified (one buffer for all sequences), otherwise llama.cpp splits n_ctx
between sequences and a 576-token image no longer fits in one.

Only what is read is computed: `run` stops llama.cpp's graph right after the
deepest block in `layers`, for the image prefix and the prompts alike (see
capture.py); a llama.cpp that does not honour the stop is detected and the
full graph runs from then on.

Memory on the CPU: the weights are in memory once, in one of two layouts
(`weights`): `mapped`, straight from the memory-mapped file, or `repacked`,
copied into llama.cpp's CPU-specific layouts with the file read rather than
mapped (mapped and repacked together would hold most weights twice). Which
is faster depends on the CPU; weight_layout.py measures it per machine. The
context holds what one photo and a group of prompts need (context_size) rather
than a fixed 2048 tokens (the KV cache of a 7B model costs 0.5 MB per token).

Ctrl+C during a C call is noted, ends the model load or the computation early, and is raised
as itself when the call returns (interrupts.py).
"""

from __future__ import annotations

import ctypes
import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from esmc_desktop.errors import ImageError, ModelFileError, PromptTooLongError, RuntimeFailure, SettingsError
from esmc_desktop.mllm import interrupts
from esmc_desktop.mllm.capture import HiddenStateCapture
from esmc_desktop.mllm.clip_fix import ClsOrderFix, class_embedding
from esmc_desktop.mllm.gguf_files import GgufFile, check_infos, image_size, image_tokens, require_lm
from esmc_desktop.mllm.handles import LlamaContext, LlamaModel, MtmdContext
from esmc_desktop.mllm.layouts import MAPPED, REPACKED, WEIGHT_LAYOUTS
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, ChatTemplate, get_template
from esmc_desktop.mllm.vocabulary import Tokenizing

# the weight layouts are named here too: they are what `weights` takes
__all__ = ["DEFAULT_MAX_PROMPTS", "MAPPED", "REPACKED", "ImageRun", "LlavaRuntime", "PromptStates", "RuntimeStats",
           "context_size"]

DEFAULT_MAX_PROMPTS = 8
# Context room for text besides the image: BOS and the chat template around it (LLaVA's system prompt is
# 35 tokens), and per prompt of a group (a criterion in the template: 13-20 tokens; a group that does not fit
# is split, see _prompt_groups); for a text-only runtime, a question and its answer. The KV cache of a 7B
# costs 0.5 MiB per token: a context sized to what a photo and its prompts need is 256 tokens (128 MiB) less
# than a fixed room would take.
TEMPLATE_ROOM = 64
PROMPT_ROOM = 24
TEXT_ONLY_CTX = 512
CTX_ALIGN = 256


def context_size(n_image_tokens: int, max_prompts: int = DEFAULT_MAX_PROMPTS) -> int:
    """The context one photo and a group of `max_prompts` prompts need, rounded up to llama.cpp's padding."""
    if not n_image_tokens:
        return TEXT_ONLY_CTX
    return -(-(n_image_tokens + TEMPLATE_ROOM + PROMPT_ROOM * max_prompts) // CTX_ALIGN) * CTX_ALIGN


@dataclass
class PromptStates:
    """Hidden states of one prompt's text tokens: `hidden[k]` is block `layers[k]`'s output."""

    prompt: str
    token_ids: list[int]
    tokens: list[str]
    layers: tuple[int, ...]
    hidden: np.ndarray  # (n_layers, n_tokens, n_embd) float32

    def layer(self, index: int) -> np.ndarray:
        return self.hidden[self.layers.index(index)]


@dataclass
class ImageRun:
    """Everything one photo produced: the shared prefix and one PromptStates per prompt."""

    prefix_ids: list[int]
    n_image_tokens: int
    prompts: list[PromptStates] = field(default_factory=list)


@dataclass
class RuntimeStats:
    """Counts that show work done (tests assert the image is decoded once per photo)."""

    images_encoded: int = 0
    image_tokens_decoded: int = 0
    text_tokens_decoded: int = 0
    early_stopped_runs: int = 0  # runs whose graphs stopped after the deepest block read


def _rgb_array(image) -> np.ndarray:
    """An (H, W, 3) uint8 array from a PIL image or an array."""
    if hasattr(image, "convert"):
        image = np.asarray(image.convert("RGB"))
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError(f"expected an RGB image (H, W, 3), got an array of shape {arr.shape}")
    return arr


def _check_settings(n_ctx: int | None, max_prompts: int, weights: str) -> None:
    """Settings that cannot work are refused before anything is read or loaded."""
    if weights not in WEIGHT_LAYOUTS:
        raise SettingsError(f"CPU weight layout {weights!r}: give {' or '.join(WEIGHT_LAYOUTS)} "
                            "(weight_layout.choose_layout measures which one is faster here)")
    if n_ctx is not None and n_ctx < 64:
        raise SettingsError(f"a context of {n_ctx} tokens is too small for an image and a prompt; "
                            "give at least 64 (the default fits one photo and its prompts)")
    if max_prompts < 1:
        raise ValueError(f"max_prompts must be at least 1, got {max_prompts}")


def _checked_pair(lm_path: Path | str | GgufFile, mmproj_path: Path | str | GgufFile | None,
                  allow_legacy: bool) -> tuple[GgufFile, GgufFile | None]:
    """The two files, their headers checked as a pair (or the LM alone): a sentence before llama.cpp sees them."""
    lm_file = lm_path if isinstance(lm_path, GgufFile) else GgufFile(lm_path)
    mm_file = mmproj_path if isinstance(mmproj_path, GgufFile) or mmproj_path is None else GgufFile(mmproj_path)
    if mm_file is None:
        require_lm(lm_file.info)
    else:
        check_infos(lm_file.info, mm_file.info, allow_legacy=allow_legacy)
    return lm_file, mm_file


class LlavaRuntime(Tokenizing):
    """A loaded LLaVA-1.5 GGUF pair (LM + mmproj) ready to read hidden states.

    It owns three llama.cpp handles, each through its owner in handles.py: the model, the context and
    the vision projector; close() (or leaving the `with` block) frees them, projector first.
    Not thread-safe: use one runtime per worker thread.
    """

    def __init__(
        self,
        lm_path: Path | str | GgufFile,
        mmproj_path: Path | str | GgufFile | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        max_prompts: int = DEFAULT_MAX_PROMPTS,
        layers: Sequence[int] | None = None,
        template: ChatTemplate | str = DEFAULT_TEMPLATE,
        allow_legacy_mmproj: bool = False,
        early_stop: bool = True,
        weights: str = MAPPED,
    ) -> None:
        """`n_ctx` None: sized to one photo and its prompts (context_size). `weights`: MAPPED or REPACKED
        (module docstring); weight_layout.choose_layout says which one runs faster on this machine.
        The files may be given as GgufFiles (a model session's): their headers are not read again."""
        import llama_cpp

        _check_settings(n_ctx, max_prompts, weights)
        lm_file, mm_file = _checked_pair(lm_path, mmproj_path, allow_legacy_mmproj)
        self.image_size = image_size(mm_file.info) if mm_file is not None else 0
        self.n_image_tokens = image_tokens(mm_file.info) if mm_file is not None else 0
        cls = class_embedding(mm_file) if mm_file is not None else None  # read before anything is loaded
        self._cls_fix = ClsOrderFix(cls) if cls is not None else None
        self.template = get_template(template) if isinstance(template, str) else template
        self.stats = RuntimeStats()
        self._llama = llama_cpp
        self.weights, self.max_prompts, self._early_stop = weights, max_prompts, early_stop
        self._capture = HiddenStateCapture(())
        threads = n_threads or max(1, os.cpu_count() or 1)
        with ExitStack() as made:  # a failure part way (Ctrl+C included) frees what was made before it
            self._model = made.enter_context(LlamaModel(lm_file.path, n_gpu_layers=n_gpu_layers, weights=weights))
            self.n_layer, self.n_embd, self.n_vocab = self._model.n_layer, self._model.n_embd, self._model.n_vocab
            self.set_layers(layers)
            self._context = made.enter_context(LlamaContext(
                self._model, n_ctx=n_ctx or context_size(self.n_image_tokens, max_prompts), n_seq_max=max_prompts + 1,
                n_threads=threads, eval_callback=self._capture.callback))
            self._projector = None if mm_file is None else made.enter_context(MtmdContext(
                mm_file.path, self._model, use_gpu=n_gpu_layers != 0, n_threads=threads,
                eval_callback=self._cls_fix.callback if self._cls_fix is not None else None))
            self._handles = made.pop_all()
        self.n_ctx, self.n_batch = self._context.n_ctx, self._context.n_batch

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Free llama.cpp's memory now rather than at garbage collection: projector, context, model."""
        self._handles.close()

    def __enter__(self) -> "LlavaRuntime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tokens -------------------------------------------------------------------

    def set_layers(self, layers: Sequence[int] | None) -> None:
        """Blocks whose outputs later runs return (None: all); fewer blocks, less copying."""
        chosen = tuple(range(self.n_layer)) if layers is None else tuple(sorted(set(layers)))
        bad = [i for i in chosen if not 0 <= i < self.n_layer]
        if bad or not chosen:
            raise ValueError(f"layers {list(bad) or chosen} out of range: the model has blocks 0..{self.n_layer - 1}")
        self.layers = chosen
        self._capture.set_layers(chosen)

    def _require_open(self) -> None:
        if self._context.closed:
            raise RuntimeError("this LlavaRuntime is closed")

    @property
    def _vocab(self):
        """The model's vocabulary handle, for Tokenizing."""
        return self._model.vocab

    # -- decoding -----------------------------------------------------------------

    def _decode(self, rows: list[tuple[int, int, int]], outputs: bool) -> None:
        """Decode (token, position, sequence) rows in one batch; all rows are outputs if asked."""
        llama_cpp = self._llama
        batch = llama_cpp.llama_batch_init(len(rows), 0, 1)
        try:
            batch.n_tokens = len(rows)
            for i, (token, pos, seq) in enumerate(rows):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 1 if outputs or i == len(rows) - 1 else 0
            with interrupts.held():
                status = llama_cpp.llama_decode(self._context.handle, batch)
        finally:
            llama_cpp.llama_batch_free(batch)
        if status != 0:
            raise RuntimeFailure(f"llama.cpp failed to decode {len(rows)} tokens (status {status})")
        self.stats.text_tokens_decoded += len(rows)

    def _decode_captured(self, rows: list[tuple[int, int, int]]) -> dict[int, np.ndarray]:
        self._capture.take()
        self._capture.armed = True
        try:
            self._decode(rows, outputs=True)
        finally:
            self._capture.armed = False
        states = self._capture.take()
        for layer, arr in states.items():
            if arr.shape[0] != len(rows):
                raise RuntimeFailure(f"captured {arr.shape[0]} rows at block {layer}, expected {len(rows)}")
        return states

    def _states(self, prompt: str, ids: list[int], states: dict[int, np.ndarray], start: int) -> PromptStates:
        hidden = np.stack([states[i][start:start + len(ids)] for i in self.layers])
        return PromptStates(prompt, ids, [self.token_text(t) for t in ids], self.layers, hidden)

    @contextmanager
    def _image_chunks(self, image, text: str) -> Iterator[object]:
        """mtmd chunks for `text` with the image at the media marker; they and the bitmap are freed when left."""
        self._require_open()
        if self._projector is None:
            raise ModelFileError("this runtime was loaded without an mmproj file; it can't see images")
        mtmd = self._projector.lib
        arr = _rgb_array(image)
        h, w = arr.shape[:2]
        bitmap = mtmd.mtmd_bitmap_init(w, h, arr.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        if not bitmap:
            raise ImageError("llama.cpp could not take the image")
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            raw = text.replace("<image>", mtmd.mtmd_default_marker().decode()).encode()
            inp = mtmd.mtmd_input_text(text=raw, text_len=len(raw), add_special=True, parse_special=True)
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd.mtmd_tokenize(self._projector.handle, chunks, ctypes.byref(inp), bitmaps, 1) != 0:
                raise ImageError("llama.cpp could not tokenize the image prompt")
            yield chunks
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)

    def _check_cls_fix(self) -> None:
        if self._cls_fix is not None and self._cls_fix.error is not None:
            error, self._cls_fix.error = self._cls_fix.error, None
            raise RuntimeFailure(f"the CLS-order fix failed: {error}")

    def image_features(self, image) -> np.ndarray:
        """The projector's output for a photo: (n_image_tokens, n_embd), what the LM receives."""
        with self._image_chunks(image, "<image>") as chunks:
            mtmd = self._projector.lib
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    with interrupts.held():
                        status = mtmd.mtmd_encode_chunk(self._projector.handle, chunk)
                    if status != 0:
                        raise RuntimeFailure("llama.cpp failed to encode the image")
                    self._check_cls_fix()
                    n = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
                    embd = mtmd.mtmd_get_output_embd(self._projector.handle)
                    self.stats.images_encoded += 1
                    return np.ctypeslib.as_array(embd, shape=(n * self.n_embd,)).reshape(n, self.n_embd).copy()
        raise ImageError("llama.cpp produced no image chunk")

    def _encode_prefix(self, image) -> tuple[list[int], int, int]:
        """Decode BOS, the template's text before the image and the image into sequence 0.

        Returns (prefix ids, image tokens, n_past).
        """
        with self._image_chunks(image, self.template.before_image + "<image>") as chunks:
            mtmd = self._projector.lib
            prefix_ids: list[int] = []
            n_image = 0
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    n = ctypes.c_size_t()
                    tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                    prefix_ids += [tokens[k] for k in range(n.value)]
                else:
                    n_image += mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            if n_image + len(prefix_ids) + 1 > self.n_ctx:
                raise PromptTooLongError(
                    f"the image alone needs {n_image + len(prefix_ids)} tokens; the context holds {self.n_ctx}")
            self.clear()
            new_n_past = self._llama.llama_pos(0)
            with interrupts.held():
                status = mtmd.mtmd_helper_eval_chunks(self._projector.handle, self._context.handle, chunks, 0, 0, self.n_batch, False,
                                                      ctypes.byref(new_n_past))
            if status != 0:
                raise RuntimeFailure(f"llama.cpp failed to encode the image (status {status})")
            self._check_cls_fix()
        self.stats.images_encoded += 1
        self.stats.image_tokens_decoded += n_image
        return prefix_ids, n_image, new_n_past.value

    def _prompt_groups(self, suffixes: list[list[int]], n_past: int) -> list[list[int]]:
        """Indices of prompts decoded together: at most max_prompts, and they must fit n_ctx."""
        room = min(self.n_ctx - n_past, self.n_batch)
        groups: list[list[int]] = [[]]
        used = 0
        for i, ids in enumerate(suffixes):
            if len(ids) > room:
                raise PromptTooLongError(
                    f"prompt {i + 1} needs {len(ids)} tokens after the image, only {room} fit in the context "
                    f"of {self.n_ctx}; shorten it or raise n_ctx")
            if len(groups[-1]) == self.max_prompts or used + len(ids) > room:
                groups.append([])
                used = 0
            groups[-1].append(i)
            used += len(ids)
        return groups

    @property
    def early_stop(self) -> bool:
        """Whether runs stop after the deepest block read (False when asked not to, or llama.cpp ignored it)."""
        return self._early_stop and not self._capture.stop_ignored

    def _stopping(self, compute):
        """`compute()` with the graph cut after the deepest block read; at full depth when that fails."""
        if not self.early_stop:
            return compute()
        self._capture.stop_after = max(self.layers)
        try:
            result = compute()
        except RuntimeFailure:
            # a llama.cpp that reports a stopped graph as a failed decode: run everything from now on
            self._early_stop = False
            self._capture.stop_after = None
            return compute()
        finally:
            self._capture.stop_after = None
        if not self._capture.stop_ignored:
            self.stats.early_stopped_runs += 1
        return result

    def run(self, image, prompts: Sequence[str]) -> ImageRun:
        """Hidden states at every text token after the image, for each prompt.

        The image is encoded and decoded once; every prompt continues from it.
        """
        if not prompts:
            raise ValueError("give at least one prompt")
        suffixes = [self.tokenize(self.template.suffix(p)) for p in prompts]
        if any(not s for s in suffixes):
            raise ValueError("a prompt tokenized to nothing")
        return self._stopping(lambda: self._run(image, prompts, suffixes))

    def _run(self, image, prompts: Sequence[str], suffixes: list[list[int]]) -> ImageRun:
        prefix_ids, n_image, n_past = self._encode_prefix(image)
        result = ImageRun(prefix_ids, n_image)
        for group in self._prompt_groups(suffixes, n_past):
            rows: list[tuple[int, int, int]] = []
            for seq, i in enumerate(group, start=1):
                self.copy_sequence(0, seq)
                rows += [(t, n_past + k, seq) for k, t in enumerate(suffixes[i])]
            states = self._decode_captured(rows)
            start = 0
            for i in group:
                result.prompts.append(self._states(prompts[i], suffixes[i], states, start))
                start += len(suffixes[i])
            for seq in range(1, len(group) + 1):
                self.drop_sequence(seq)
        return result

    def run_text(self, text: str) -> PromptStates:
        """Hidden states at every token of a raw text (BOS included), no image, no template."""
        ids = self.tokenize(text, add_bos=True)
        if len(ids) > self.n_batch:
            raise PromptTooLongError(f"the text needs {len(ids)} tokens; one decode takes {self.n_batch}")

        def compute() -> dict[int, np.ndarray]:
            self.clear()
            return self._decode_captured([(t, k, 0) for k, t in enumerate(ids)])

        return self._states(text, ids, self._stopping(compute), 0)

    # -- the KV cache and the logits, for text generation too (generate.py) -------------

    def clear(self) -> None:
        """Empty every sequence of the KV cache."""
        self._llama.llama_memory_clear(self._context.memory, True)

    def encode_image(self, image) -> int:
        """Sequence 0 cleared, then BOS, the template's text before the image and the image: the next position."""
        return self._encode_prefix(image)[2]

    def decode(self, ids: Sequence[int], start: int, seq: int = 0) -> None:
        """Decode `ids` at positions start, start + 1, ... in sequence `seq`; logits() then holds the last one's."""
        self._decode([(t, start + k, seq) for k, t in enumerate(ids)], outputs=False)

    def logits(self) -> np.ndarray:
        """The next-token logits after the last decode (a view: the next decode overwrites it)."""
        return np.ctypeslib.as_array(self._llama.llama_get_logits_ith(self._context.handle, -1), shape=(self.n_vocab,))

    def copy_sequence(self, source: int, target: int) -> None:
        """Sequence `target` continues from what `source` holds (a KV copy, no decoding)."""
        self._llama.llama_memory_seq_cp(self._context.memory, source, target, -1, -1)

    def drop_sequence(self, seq: int) -> None:
        self._llama.llama_memory_seq_rm(self._context.memory, seq, -1, -1)

    def is_end(self, token: int) -> bool:
        """Whether `token` ends a generation (end of sequence or of turn)."""
        return bool(self._llama.llama_vocab_is_eog(self._vocab, token))
