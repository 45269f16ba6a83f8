"""Get a known LLaVA-1.5 GGUF pair: plan (sizes, room on disk), download, check, repair, register as default."""

from __future__ import annotations

from esmc_desktop.mllm.pull import PullPlan, PullResult, plan_pull, run_pull

__all__ = ["PullPlan", "PullResult", "plan_pull", "run_pull"]
