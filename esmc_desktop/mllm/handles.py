"""One owner per llama.cpp handle a runtime holds: the model, its context and the vision projector (mtmd).

As in llama-cpp-python's `_internals.py`, each owner makes its handle in `__init__` and frees it in one
place, `close()`, through an ExitStack: a second `close()` does nothing and `__del__` frees what a caller
forgot to close. A context and a projector are made from a model and use it, so each is registered with
its model, whose close() closes them first: whatever order close() or garbage collection comes in, the
model is never freed under them. A handle llama.cpp does not make raises the sentence the owner was given
and leaves nothing behind; a Ctrl+C during the C call is raised as itself when the call returns
(interrupts.py), after freeing the handle if the call made one all the same. An owner is built from
settings already checked (runtime.py checks them and composes the owners).
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Self

from esmc_desktop.errors import ModelFileError, RuntimeFailure
from esmc_desktop.mllm import interrupts
from esmc_desktop.mllm.layouts import MAPPED, REPACKED
from esmc_desktop.mllm.logs import route_llama_logs


@interrupts.c_callback
def _keep_loading(_progress: float, _user_data) -> bool:
    """llama.cpp's load-progress callback: go on loading unless the user pressed Ctrl+C (raised after it returns)."""
    try:
        return not interrupts.pending()
    except BaseException as exc:  # nothing may cross into C
        interrupts.hold(exc)
        return False


def _close_if_alive(owner: weakref.ref) -> None:
    alive = owner()
    if alive is not None:
        alive.close()


class Handle:
    """Owns one C handle: made in `__init__` (by `_own`), freed by `close()` alone, once."""

    kind = "llama.cpp handle"

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._handle: Any = None

    def _own(self, make: Callable[[], Any], free: Callable[[Any], None], failure: Callable[[], Exception]) -> None:
        """Hold the handle `make()` returns; llama.cpp giving none raises `failure()`, a Ctrl+C meanwhile itself."""
        handle = None
        try:
            with interrupts.held():
                handle = make()
        except KeyboardInterrupt:
            if handle:  # made all the same (the interrupt came after llama.cpp's last look at it)
                free(handle)
            raise
        if not handle:
            raise failure()
        self._stack.callback(free, handle)
        self._handle = handle

    @property
    def handle(self) -> Any:
        """The C handle, for llama.cpp calls; a closed owner raises instead of handing out a freed pointer."""
        self._require_open()
        return self._handle

    def _require_open(self) -> None:
        if self._handle is None:
            raise RuntimeError(f"this {self.kind} is closed")

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Free the handle (what was made from it first); closing again does nothing."""
        self._handle = None
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if hasattr(self, "_stack"):  # __init__ may have failed before it
            self.close()


class LlamaModel(Handle):
    """A loaded language model: its weights, in the CPU layout `weights` (MAPPED or REPACKED), or on the GPU."""

    kind = "model"

    def __init__(self, path: Path, *, n_gpu_layers: int = 0, weights: str = MAPPED) -> None:
        super().__init__()
        import llama_cpp

        route_llama_logs()
        with interrupts.held():  # llama.cpp may log here (our callback) as anywhere it is called
            llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.use_extra_bufts = weights == REPACKED
        if weights == REPACKED:  # read the file into the repacked buffers; a mapping would stay resident too
            params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE  # (MAPPED keeps llama.cpp's auto: mmap on a CPU)
        self._progress = llama_cpp.llama_progress_callback(_keep_loading)  # referenced while C holds it
        params.progress_callback = self._progress
        self._own(lambda: llama_cpp.llama_model_load_from_file(str(path).encode(), params),
                  llama_cpp.llama_model_free, lambda: ModelFileError(f"llama.cpp could not load {path}"))
        self._vocab = llama_cpp.llama_model_get_vocab(self._handle)
        self.n_layer = int(llama_cpp.llama_model_n_layer(self._handle))
        self.n_embd = int(llama_cpp.llama_model_n_embd(self._handle))
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))

    @property
    def vocab(self) -> Any:
        """The model's vocabulary handle (llama.cpp's, freed with the model)."""
        self._require_open()
        return self._vocab

    def closes_first(self, user: Handle) -> None:
        """`user` was made from this model: it is closed before the model is freed."""
        self._stack.callback(_close_if_alive, weakref.ref(user))


class LlamaContext(Handle):
    """A context on a model: the KV cache for `n_seq_max` sequences in one unified buffer, and the compute graph.

    `eval_callback` (a ggml eval callback, or None) sees every graph node: how the runtime reads hidden states.
    """

    kind = "context"

    def __init__(self, model: LlamaModel, *, n_ctx: int, n_seq_max: int, n_threads: int,
                 eval_callback: Any = None) -> None:
        super().__init__()
        import llama_cpp

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        params.n_ubatch = min(n_ctx, 512)
        params.n_seq_max = n_seq_max
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        if eval_callback is not None:
            params.cb_eval = eval_callback
            params.cb_eval_user_data = None
        self._callback = eval_callback  # referenced while C holds it
        self.model = model
        self._own(lambda: llama_cpp.llama_init_from_model(model.handle, params), llama_cpp.llama_free,
                  lambda: RuntimeFailure("llama.cpp could not create a context (out of memory? try a smaller n_ctx)"))
        model.closes_first(self)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self._handle))
        # llama.cpp pads n_ctx (to 256) but keeps n_batch as asked: a decode call takes at most n_batch tokens
        self.n_batch = int(llama_cpp.llama_n_batch(self._handle))
        self._memory = llama_cpp.llama_get_memory(self._handle)

    @property
    def memory(self) -> Any:
        """The context's KV cache handle (llama.cpp's, freed with the context)."""
        self._require_open()
        return self._memory


class MtmdContext(Handle):
    """A vision projector (mmproj) loaded by libmtmd onto a model: turns a photo into the model's image tokens.

    `lib` is llama-cpp-python's mtmd_cpp; `eval_callback` sees the CLIP graph's nodes (clip_fix.py).
    """

    kind = "vision projector"

    def __init__(self, path: Path, model: LlamaModel, *, use_gpu: bool, n_threads: int,
                 eval_callback: Any = None) -> None:
        super().__init__()
        from llama_cpp import mtmd_cpp

        self.lib = mtmd_cpp
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = n_threads
        params.print_timings = False
        params.warmup = False
        if eval_callback is not None:
            params.cb_eval = eval_callback
            params.cb_eval_user_data = None
        self._callback = eval_callback  # referenced while C holds it
        self.model = model
        self._own(lambda: mtmd_cpp.mtmd_init_from_file(str(path).encode(), model.handle, params), mtmd_cpp.mtmd_free,
                  lambda: ModelFileError(f"llama.cpp could not load the vision projector {path}"))
        model.closes_first(self)
