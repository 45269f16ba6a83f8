"""Which CPU weight layout runs a model faster on this machine: measured once, in child processes, and cached.

llama.cpp can use the weights straight from the memory-mapped file (MAPPED) or repack
them into layouts its CPU kernels prefer (REPACKED; AVX2, AVX-512, AMX or ARM variants,
whichever the build and the CPU have), reading the file instead of mapping it so the
weights are in memory once either way. Which is faster depends on the CPU and the build,
and the repack can crash: llama-cpp-python 0.3.36 died with SIGSEGV in
ggml_backend_amx_mul_mat on Q4_K_M models on an AVX-512 + AMX CPU. So each layout is
tried in a child process (a crash there costs a verdict, not the app): load the language
model, decode the same text a few times, report the best seconds per decode and the
child's peak RSS. REPACKED is chosen only when it ran, is at least MIN_GAIN faster and
holds no more memory (RSS_SLACK allows for llama.cpp's staging buffer of the largest
tensor while it repacks; a second copy of the weights would be +100%); otherwise MAPPED.

The verdict is cached in the user cache folder under a key of the model's fingerprint
(gguf_files.fingerprint: content-based, so a moved or copied model keeps its verdict and
a changed one gets a new measurement; every run computes it anyway for the feature
cache), the llama-cpp-python version with its build's CPU features, and the CPU's own
signature, so it runs once per model per machine and again after an upgrade. The thread
count is recorded, not keyed: which kernels are faster is a matter of the CPU, and a
verdict per thread count would measure again whenever --threads changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import platformdirs

from esmc_desktop.errors import EsmcError
from esmc_desktop.files import move_aside, write_atomic
from esmc_desktop.mllm.gguf_files import fingerprint
from esmc_desktop.mllm.registry import APP_NAME
from esmc_desktop.mllm.layouts import MAPPED, REPACKED, WEIGHT_LAYOUTS

MIN_GAIN = 0.10  # REPACKED must take at most 1 / 1.10 of MAPPED's time per decode
RSS_SLACK = 0.05
# Timed decodes, after one untimed warm-up: at least DECODES and until MIN_TIMED_S have passed (a small model
# decodes in milliseconds, where one burst of another program's work would decide); the best counts.
DECODES = 3
MIN_TIMED_S = 1.0
MAX_DECODES = 200
TRIAL_TIMEOUT_S = 600
# The text every trial decodes in one batch: 45 words (137 tokens with the tiny test model's vocabulary).
TEXT = ("A photo of a red car parked in front of a small bakery on a quiet street in the morning, "
        "with a woman walking her dog past a blue bicycle that leans against the window, "
        "and two pigeons on the pavement near a green bench.")
CACHE_FILE = "cpu-weights.json"
_SCHEMA = 1


@dataclass(frozen=True)
class Trial:
    """One layout's run in its child process: figures when it ran, `failure` saying why not."""

    layout: str
    seconds_per_decode: float | None = None
    peak_rss_bytes: int | None = None
    load_seconds: float | None = None
    n_tokens: int | None = None
    failure: str | None = None

    @property
    def ran(self) -> bool:
        return self.failure is None

    def describe(self) -> str:
        if not self.ran:
            return f"{self.layout}: {self.failure}"
        return (f"{self.layout}: {self.seconds_per_decode * 1000:.1f} ms per decode of {self.n_tokens} tokens, "
                f"peak RSS {self.peak_rss_bytes / 2**20:.0f} MiB, load {self.load_seconds:.2f} s")


@dataclass(frozen=True)
class Verdict:
    """The layout to load on this machine, why, and the trials it rests on."""

    layout: str
    reason: str
    trials: tuple[Trial, ...]
    lm: str  # the model file measured (for doctor; the key is its fingerprint)
    threads: int
    measured_at: float  # seconds since the epoch
    cached: bool = False  # read from the cache rather than measured by this call

    def sentence(self) -> str:
        when = (time.strftime("as measured on %Y-%m-%d", time.localtime(self.measured_at)) if self.cached
                else "measured just now, once for this model on this machine")
        return f"CPU weights: {self.layout}, {when}: {self.reason}"


def default_cache_file() -> Path:
    return platformdirs.user_cache_path(APP_NAME) / CACHE_FILE


def _cpu_signature() -> str:
    """What the CPU is and can do: the architecture, the model name and the feature flags."""
    parts = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "flags", "Features", "CPU implementer", "CPU part"):
                    parts.append(f"{name.strip()}={value.strip()}")
                elif not line.strip() and len(parts) > 2:
                    break  # the first processor's block says it for all
    except OSError:
        pass  # not Linux: architecture and processor name only
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _build_signature() -> str:
    """The llama-cpp-python version and what its CPU backend was built with (a rebuild may change the kernels)."""
    import llama_cpp

    features = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return f"{llama_cpp.__version__}-{hashlib.sha256(features.encode()).hexdigest()[:8]}"


def cache_key(lm: Path | str, model_fingerprint: str | None = None) -> str:
    """The verdict's key: model fingerprint (given when already known), llama.cpp build, CPU signature."""
    return f"{model_fingerprint or fingerprint(lm)}:{_build_signature()}:{_cpu_signature()}"


# -- the trial in a child process -------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's peak RSS. On Linux VmHWM, not ru_maxrss: ru_maxrss keeps the parent's peak across
    fork and exec (a child of a 600 MB process reports at least 600 MB), VmHWM is this program's own."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows: the peak working set
        import psutil

        return int(psutil.Process().memory_info().peak_wset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on the BSDs


def _trial_child(lm: str, layout: str, threads: int) -> None:
    """Load `lm` in `layout`, decode TEXT as the constants above say, print the figures as one JSON line."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an expected crash leaves no core file
    except (ImportError, ValueError, OSError):
        pass
    from esmc_desktop.mllm.runtime import LlavaRuntime

    started = time.perf_counter()
    rt = LlavaRuntime(lm, None, n_threads=threads, weights=layout, early_stop=False)
    load = time.perf_counter() - started
    rt.set_layers([rt.n_layer - 1])  # every block computed, one copied out
    states = rt.run_text(TEXT)
    seconds: list[float] = []
    while len(seconds) < DECODES or (sum(seconds) < MIN_TIMED_S and len(seconds) < MAX_DECODES):
        started = time.perf_counter()
        rt.run_text(TEXT)
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"seconds_per_decode": min(seconds), "peak_rss_bytes": peak_rss_bytes(),
                      "load_seconds": load, "n_tokens": len(states.token_ids)}), flush=True)


def _failure(out: subprocess.CompletedProcess) -> str:
    if out.returncode < 0:
        try:
            name = signal.Signals(-out.returncode).name
        except ValueError:
            name = f"signal {-out.returncode}"
        return f"crashed ({name})"
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    return f"failed ({lines[-1].strip()[:200] if lines else f'exit status {out.returncode}'})"


def run_trial(lm: Path | str, layout: str, threads: int, timeout: float = TRIAL_TIMEOUT_S) -> Trial:
    """One layout's figures from a child process; a crash, an error or a timeout makes a Trial that says so."""
    package_root = str(Path(__file__).resolve().parents[2])  # the child imports this very code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "esmc_desktop.mllm.weight_layout", str(lm), layout, str(threads)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Trial(layout, failure=f"took longer than {timeout:.0f} s")
    if out.returncode != 0:
        return Trial(layout, failure=_failure(out))
    try:
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        return Trial(layout, float(figures["seconds_per_decode"]), int(figures["peak_rss_bytes"]),
                     float(figures["load_seconds"]), int(figures["n_tokens"]))
    except (IndexError, KeyError, TypeError, ValueError):
        return Trial(layout, failure=f"failed (no figures in its output: {out.stdout[-200:]!r})")


# -- the choice -------------------------------------------------------------------------------------


def decide(mapped: Trial, repacked: Trial) -> tuple[str, str]:
    """The layout and why, from the two trials (see the module docstring for the rule)."""
    if not mapped.ran and not repacked.ran:
        return MAPPED, f"neither layout ran in its trial (mapped {mapped.failure}, repacked {repacked.failure})"
    if not repacked.ran:
        return MAPPED, f"repacked {repacked.failure} in its trial"
    if not mapped.ran:
        return REPACKED, f"the mapped file {mapped.failure} in its trial"
    speed = (f"repacked ran at {mapped.seconds_per_decode / repacked.seconds_per_decode:.2f}x the mapped file's "
             f"speed ({1 + MIN_GAIN:.2f}x needed)")
    memory = f"peak RSS {repacked.peak_rss_bytes / 2**20:.0f} vs {mapped.peak_rss_bytes / 2**20:.0f} MiB"
    if repacked.peak_rss_bytes > mapped.peak_rss_bytes * (1 + RSS_SLACK):
        return MAPPED, f"{speed} but holds more memory ({memory})"
    if mapped.seconds_per_decode < repacked.seconds_per_decode * (1 + MIN_GAIN):
        return MAPPED, f"{speed}; {memory}"
    return REPACKED, f"{speed} at no more memory ({memory})"


def calibrate(lm: Path | str, threads: int | None = None, *, timeout: float = TRIAL_TIMEOUT_S) -> Verdict:
    """Measure both layouts now (two child processes) and decide; nothing is cached."""
    threads = threads or max(1, os.cpu_count() or 1)
    mapped, repacked = (run_trial(lm, layout, threads, timeout) for layout in WEIGHT_LAYOUTS)
    layout, reason = decide(mapped, repacked)
    return Verdict(layout, reason, (mapped, repacked), str(Path(lm).resolve()), threads, time.time())


def _verdict_from(record: dict) -> Verdict:
    trials = tuple(Trial(**t) for t in record["trials"])
    if record["layout"] not in WEIGHT_LAYOUTS or [t.layout for t in trials] != list(WEIGHT_LAYOUTS):
        raise ValueError("unknown layouts")
    return Verdict(record["layout"], str(record["reason"]), trials, str(record["lm"]), int(record["threads"]),
                   float(record["measured_at"]), cached=True)


def _read_cache(path: Path) -> dict[str, Verdict]:
    """The cached verdicts by key; a file that does not read as such is moved aside (and rebuilt by the caller)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != _SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}")
        return {str(key): _verdict_from(record) for key, record in data["verdicts"].items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        move_aside(path, f"is a damaged cache of CPU weight layouts ({type(exc).__name__}: {exc})")
        return {}


def _write_cache(path: Path, verdicts: dict[str, Verdict]) -> None:
    records = {}
    for key, verdict in verdicts.items():
        record = asdict(verdict)
        del record["cached"]
        records[key] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"schema": _SCHEMA, "verdicts": records}, indent=1))


def choose_layout(lm: Path | str, threads: int | None = None, *, cache_file: Path | str | None = None,
                  timeout: float = TRIAL_TIMEOUT_S, on_measure: Callable[[str], None] | None = None,
                  model_fingerprint: str | None = None) -> Verdict:
    """The cached verdict for this model, build and CPU, or a new calibration (cached unless nothing ran).

    Runs two child processes the first time (seconds on small models; loading and decoding a 7B
    model twice takes longer; `on_measure` hears a sentence before): call it off the GUI thread.
    """
    path = Path(cache_file) if cache_file is not None else default_cache_file()
    key = cache_key(lm, model_fingerprint)
    found = _read_cache(path)
    if key in found:
        return found[key]
    if on_measure is not None:
        on_measure(f"measuring which CPU weight layout runs {Path(lm).name} faster here (once per model and machine)")
    verdict = calibrate(lm, threads, timeout=timeout)
    if any(t.ran for t in verdict.trials):  # a model that loads in neither layout says why when it is used
        found = _read_cache(path)  # another process may have added one meanwhile
        found[key] = verdict
        _write_cache(path, found)
    return verdict


def machine_verdicts(cache_file: Path | str | None = None) -> list[Verdict]:
    """The cached verdicts that hold for this machine and llama.cpp build (for `doctor`)."""
    path = Path(cache_file) if cache_file is not None else default_cache_file()
    suffix = f":{_build_signature()}:{_cpu_signature()}"
    return [v for key, v in _read_cache(path).items() if key.endswith(suffix)]


if __name__ == "__main__":
    try:
        _trial_child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    except EsmcError as exc:  # a file llama.cpp or our checks refuse: the sentence, for Trial.failure
        print(exc, file=sys.stderr)
        sys.exit(1)
