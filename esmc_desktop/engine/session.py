"""A model pair opened once per use case: checked, its headers read once, its compute planned.

    with ModelSession.open(model, compute, cache_dir=..., note=feedback.say) as session:
        with session.runtime(max_prompts=3) as rt: ...
        lens, cache = session.lens(params), session.cache()

Opening checks the pair (kinds, legacy mmproj, widths) and the context size, resolves the user's
ComputeRequest into a ComputePlan (GPU layers planned, CPU weight layout chosen: measured the first time
on this machine) and says where it runs. Each GGUF file is parsed once (mllm.gguf_files.GgufFile): the
checks, the plan, the fingerprints, the lens and the runtime all read that parse. Nothing is loaded into
llama.cpp until a runtime is asked for; the feature cache opens on first use and closes with the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from esmc_desktop.errors import SettingsError
from esmc_desktop.mllm.gguf_files import LM_BLOCK_COUNT, GgufFile, check_infos, fingerprint_of, image_tokens
from esmc_desktop.mllm.gpu import plan_gpu_layers
from esmc_desktop.mllm.layouts import MAPPED, REPACKED
from esmc_desktop.mllm.logit_lens import LensParams, LogitLens
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE
from esmc_desktop.mllm.runtime import DEFAULT_MAX_PROMPTS, LlavaRuntime
from esmc_desktop.mllm.weight_layout import choose_layout
from esmc_desktop.engine.settings import ComputePlan, ComputeRequest
from esmc_desktop.photos.cache import FeatureCache

# Room for everything in the context besides the image: the chat template's system prompt
# (about 35 tokens for llava_v1), "USER:", the criterion prompt and "ASSISTANT:".
PROMPT_ROOM = 64


@dataclass(frozen=True)
class ModelFiles:
    """The two GGUF files LLaVA runs from: the language model and its vision projector (mmproj)."""

    lm: Path
    mmproj: Path


def check_context(n_ctx: int | None, n_image_tokens: int) -> None:
    """The context holds one image and a prompt: the image's tokens (576 for LLaVA-1.5) plus PROMPT_ROOM."""
    if n_ctx is None:  # the runtime sizes it to one photo and its prompts
        return
    need = n_image_tokens + PROMPT_ROOM
    if n_ctx < need:
        what = f"one image takes {n_image_tokens} tokens and the prompt about {PROMPT_ROOM}" if n_image_tokens \
            else f"the prompt needs about {PROMPT_ROOM} tokens"
        raise SettingsError(f"a context of {n_ctx} tokens is too small: {what}; give at least {need} "
                            "(or leave --n-ctx out: the default fits one photo and its prompts)")


def plan_compute(lm: GgufFile, compute: ComputeRequest,
                 note: Callable[[str], None] | None = None) -> ComputePlan:
    """The GPU layers planned and the CPU weight layout chosen, with the sentence saying both.

    `cpu_weights` auto on the CPU: the layout measured faster here (cached; the first time for a
    model two child processes measure it, and `note` says so first). With GPU layers auto keeps the
    mapped file, as llama.cpp's CPU layouts concern only what stays on the CPU. The sentence names
    the layout when it was measured or is not the plain mapped file.
    """
    gpu = plan_gpu_layers(compute.gpu_layers, lm.path, int(lm.info.get(LM_BLOCK_COUNT, 0) or 0))
    if compute.cpu_weights == REPACKED:
        weights, message = REPACKED, f"{gpu.message}. CPU weights: repacked, as set"
    elif compute.cpu_weights == MAPPED or gpu.n_gpu_layers:
        weights, message = MAPPED, gpu.message
    else:
        verdict = choose_layout(lm.path, compute.threads, on_measure=note, model_fingerprint=lm.fingerprint)
        weights, message = verdict.layout, f"{gpu.message}. {verdict.sentence()}"
    return ComputePlan(gpu.n_gpu_layers, compute.threads, weights, compute.n_ctx, message)


class ModelSession:
    """One model pair for one use case: its files (each parsed once), its plan, and what runs on it."""

    def __init__(self, model: ModelFiles, lm: GgufFile, mmproj: GgufFile, plan: ComputePlan,
                 cache_dir: Path | str | None = None) -> None:
        self.model, self.lm, self.mmproj, self.plan, self.cache_dir = model, lm, mmproj, plan, cache_dir
        self._lenses: dict[LensParams, LogitLens] = {}
        self._cache: FeatureCache | None = None
        self._fingerprint: str | None = None

    @classmethod
    def open(cls, model: ModelFiles, compute: ComputeRequest = ComputeRequest(), *,
             cache_dir: Path | str | None = None, note: Callable[[str], None] | None = None) -> "ModelSession":
        """Check the pair and the context, plan the compute; `note` hears a measurement and where it runs.

        Reads both headers and probes the GPU (and may measure the CPU layouts): call it off the GUI thread.
        """
        lm, mmproj = GgufFile(model.lm), GgufFile(model.mmproj)
        check_infos(lm.info, mmproj.info)
        check_context(compute.n_ctx, image_tokens(mmproj.info))
        plan = plan_compute(lm, compute, note)
        if note is not None:
            note(plan.message)
        return cls(model, lm, mmproj, plan, cache_dir)

    @property
    def fingerprint(self) -> str:
        """The pair's fingerprint (cache keys, saved results)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint_of(self.lm.reader, self.mmproj.reader)
        return self._fingerprint

    def runtime(self, *, max_prompts: int = DEFAULT_MAX_PROMPTS, layers: list[int] | None = None,
                template: str = DEFAULT_TEMPLATE, text_only: bool = False) -> LlavaRuntime:
        """A runtime built from the plan (a context manager: it frees llama.cpp's memory when left)."""
        plan = self.plan
        return LlavaRuntime(self.lm, None if text_only else self.mmproj, n_ctx=plan.n_ctx, n_threads=plan.threads,
                            n_gpu_layers=plan.n_gpu_layers, weights=plan.cpu_weights, max_prompts=max_prompts,
                            layers=layers, template=template)

    def lens(self, params: LensParams = LensParams()) -> LogitLens:
        """The logit lens on the LM's own head (read from the model file as it projects; one per lens setting)."""
        if params not in self._lenses:
            self._lenses[params] = LogitLens.from_gguf(self.lm, params)
        return self._lenses[params]

    def cache(self) -> FeatureCache:
        """The feature cache (opened once, closed with the session)."""
        if self._cache is None:
            self._cache = FeatureCache(self.cache_dir)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> "ModelSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
