"""What a run is asked to do, kept apart from where it runs.

MethodSettings: how ESMC reads and clusters (samples, seed, threshold, alpha, lens, chat template,
localization rule and span); they decide the result and its cache keys.
ComputeRequest: what the user asked of the machine (GPU layers, possibly auto; CPU threads; CPU weight
layout, possibly auto; context size). It is never changed: a model session resolves it once into a
ComputePlan, what llama.cpp is given, with the sentence that says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from esmc_desktop.method.choices import DEFAULT_RULE, DEFAULT_SAMPLES, DEFAULT_SPAN, SPANS
from esmc_desktop.method.localization import check_rule
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.mllm.layouts import CHOICES, MAPPED, WEIGHT_LAYOUTS
from esmc_desktop.mllm.logit_lens import LensParams
from esmc_desktop.mllm.prompts import DEFAULT_TEMPLATE, get_template


@dataclass(frozen=True)
class MethodSettings:
    n_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    threshold: float = 0.2
    alpha: float = 0.3
    lens: LensParams = LensParams()
    template: str = DEFAULT_TEMPLATE  # the chat format (mllm/prompts.py)
    localization: str = DEFAULT_RULE  # 'settled' or 'paper' (method/localization.py)
    span: str = DEFAULT_SPAN  # where localization searches: 'prompt' (the criterion's own tokens) or 'template'

    def __post_init__(self) -> None:
        get_template(self.template)
        check_rule(self.localization)
        if self.span not in SPANS:
            raise ValueError(f"unknown search span {self.span!r}; choose prompt or template")


@dataclass(frozen=True)
class ComputeRequest:
    """The user's wish, as given (CLI options, the window's model settings)."""

    gpu_layers: GpuLayers = GpuLayers()  # auto: as many layers as fit in free GPU memory; 0: the CPU only
    threads: int | None = None  # None: all cores
    # how the weights sit in memory on the CPU: mapped or repacked (mllm/runtime.py), or auto, the one
    # measured faster on this machine (mllm/weight_layout.py)
    cpu_weights: str = MAPPED
    n_ctx: int | None = None  # None: what one photo and its prompts need

    def __post_init__(self) -> None:
        if self.cpu_weights not in CHOICES:
            raise ValueError(f"unknown CPU weight layout {self.cpu_weights!r}; choose one of {', '.join(CHOICES)}")


@dataclass(frozen=True)
class ComputePlan:
    """A ComputeRequest resolved for one model on this machine: what the runtime is built with."""

    n_gpu_layers: int
    threads: int | None
    cpu_weights: str  # one of WEIGHT_LAYOUTS, never auto
    n_ctx: int | None
    message: str  # where it runs, in words ("running on the CPU", "offloading 33 of 33 layers ...")

    def __post_init__(self) -> None:
        if self.cpu_weights not in WEIGHT_LAYOUTS:
            raise ValueError(f"a plan runs one CPU weight layout ({', '.join(WEIGHT_LAYOUTS)}), "
                             f"not {self.cpu_weights!r}")


def lens_key(params: LensParams) -> str:
    """The lens part of a cached vector's key: every lens setting."""
    # -lastnorm: the last block's vectors are read through the model's final norm (mllm/logit_lens.py)
    return f"top{params.top_k}-{'norm' if params.final_norm else 'raw'}-lastnorm"
