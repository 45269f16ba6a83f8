"""Prepare, on a machine with a network, what `benchmarks/gpu_check.sh` needs on a GPU machine without one.

Usage: python benchmarks/gpu_bundle.py [--sdist llama_cpp_python-0.3.36.tar.gz] [--out gpu_bundle]

The GPU machine has nvcc, CMake, ninja and a Python with numpy, reaches no package registry, and
takes at most 64 MiB of files along (the working tree included). This writes into --out (ignored by
git; hand it to the device tool with `carry: ["gpu_bundle"]`):

  llama_cpp_python-0.3.36-trimmed.tar.xz  the sdist without what a CUDA build of the library and mtmd
                                          never reads: llama.cpp's docs, test models, tests, examples,
                                          tools other than mtmd, the web UI, and every ggml backend
                                          but CPU and CUDA (217 MB unpacked -> a few MB)
  site/                                   the pure-Python packages the benchmark imports besides numpy
                                          (gguf, jinja2, markupsafe, diskcache, typing_extensions,
                                          platformdirs, yaml), copied as source: no compiled parts
  cpu_reference.npz                       hidden states of the demo pair from this machine's CPU build,
                                          which the GPU build must reproduce (cosine >= 0.999)

Get the sdist with `pip download llama-cpp-python==0.3.36 --no-deps --no-binary llama-cpp-python -d DIR`.
"""

from __future__ import annotations

import argparse
import importlib
import io
import shutil
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SDIST_ROOT = "llama_cpp_python-0.3.36"
LLAMA = f"{SDIST_ROOT}/vendor/llama.cpp"
# folders a CUDA build of libllama, libggml* and libmtmd does not read (llama.cpp is a subproject there,
# so its tests, examples, tools and server are off; llama-cpp-python adds tools/mtmd itself)
DROP_DIRS = (
    f"{SDIST_ROOT}/docs", f"{SDIST_ROOT}/docker", f"{SDIST_ROOT}/examples", f"{SDIST_ROOT}/tests",
    f"{SDIST_ROOT}/.github", f"{SDIST_ROOT}/.git",  # the .git holds llama.cpp's history: 37 MB of it
    *(f"{LLAMA}/{d}" for d in ("docs", "models", "tests", "benches", "examples", "conversion", "scripts",
                               "gguf-py", "media", "app", "pocs", "ci", "skills", "grammars", "requirements",
                               ".devops", ".github")),
    *(f"{LLAMA}/tools/{t}" for t in ("batched-bench", "cli", "completion", "cvector-generator", "export-lora",
                                      "fit-params", "gguf-split", "imatrix", "llama-bench", "perplexity",
                                      "quantize", "results", "rpc", "server", "tokenize", "tts", "tuning", "ui")),
    *(f"{LLAMA}/ggml/src/ggml-{b}" for b in ("virtgpu", "cann", "openvino", "webgpu", "et", "metal", "hexagon",
                                            "sycl", "vulkan", "opencl", "blas", "hip", "musa", "rpc", "zdnn",
                                            "kompute", "zendnn")),
)
KEEP_SUFFIXES_DROPPED = (".gguf", ".png", ".jpg", ".mp4", ".wav", ".pdf")
SITE_PACKAGES = ("gguf", "jinja2", "markupsafe", "diskcache", "typing_extensions", "platformdirs", "yaml")
REFERENCE_PROMPTS = ["The color of the object is", "The shape of the object is"]


def _kept(name: str) -> bool:
    if any(name == d or name.startswith(d + "/") for d in DROP_DIRS):
        return False
    return not name.endswith(KEEP_SUFFIXES_DROPPED)


def trim(sdist: Path, dest: Path) -> tuple[int, int]:
    """Write the trimmed sdist as tar.xz; (bytes unpacked before, after)."""
    before = after = 0
    with tarfile.open(sdist) as src, tarfile.open(dest, "w:xz", preset=6) as out:
        for member in src:
            before += member.size
            if not _kept(member.name):
                continue
            after += member.size
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
    return before, after


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version({"yaml": "PyYAML"}.get(name, name))
    except metadata.PackageNotFoundError:
        return ""


def copy_site(dest: Path) -> list[str]:
    """The pure-Python packages, as source files only (the GPU machine's Python is another version)."""
    copied = []
    for name in SITE_PACKAGES:
        module = importlib.import_module(name)
        path = Path(module.__file__)
        if path.name == "__init__.py":
            shutil.copytree(path.parent, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.so", "*.pyd", "*.c", "*.pyi"))
        else:
            shutil.copy2(path, dest / path.name)
        copied.append(f"{name} {_version(name)}".strip())
    return copied


def reference_images():
    """Two deterministic photo-like arrays (no image library on the GPU machine)."""
    import numpy as np

    y, x = np.mgrid[0:480, 0:640]
    first = np.stack([(x * 255 // 639), (y * 255 // 479), np.full_like(x, 96)], -1)
    second = np.where(((x - 320) ** 2 + (y - 240) ** 2 < 150 ** 2)[..., None], [200, 40, 40], [30, 120, 200])
    return [first.astype(np.uint8), second.astype(np.uint8)]


def hidden_states(n_gpu_layers: int) -> dict:
    """Every block's output for the reference images and prompts, from the demo pair."""
    import numpy as np

    from esmc_desktop.mllm.registry import demo_entry
    from esmc_desktop.mllm.runtime import LlavaRuntime

    demo = demo_entry()
    rt = LlavaRuntime(demo.lm, demo.mmproj, n_threads=2, n_gpu_layers=n_gpu_layers, early_stop=False)
    states = {}
    try:
        for i, image in enumerate(reference_images()):
            for j, prompt in enumerate(rt.run(image, REFERENCE_PROMPTS).prompts):
                states[f"image{i}_prompt{j}"] = np.asarray(prompt.hidden, np.float32)
    finally:
        rt.close()
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, default=Path(f"/tmp/c-gpu/sdist/{SDIST_ROOT}.tar.gz"))
    parser.add_argument("--out", type=Path, default=REPO / "gpu_bundle")
    parser.add_argument("--steps", default="trim,site,reference",
                        help="which parts to (re)write: trim, site, reference")
    args = parser.parse_args()
    steps = args.steps.split(",")
    if "trim" in steps and not args.sdist.is_file():
        raise SystemExit(f"no sdist at {args.sdist}: get it with `pip download llama-cpp-python==0.3.36 --no-deps "
                         "--no-binary llama-cpp-python -d DIR` and give --sdist DIR/" + f"{SDIST_ROOT}.tar.gz")
    args.out.mkdir(parents=True, exist_ok=True)
    if "trim" in steps:
        t0 = time.perf_counter()
        tarball = args.out / f"{SDIST_ROOT}-trimmed.tar.xz"
        before, after = trim(args.sdist, tarball)
        print(f"trimmed {args.sdist.name}: {before / 2**20:.0f} MiB -> {after / 2**20:.1f} MiB unpacked, "
              f"{tarball.stat().st_size / 2**20:.1f} MiB as tar.xz ({time.perf_counter() - t0:.0f} s)")
    if "site" in steps:
        shutil.rmtree(args.out / "site", ignore_errors=True)
        (args.out / "site").mkdir()
        print("site packages: " + ", ".join(copy_site(args.out / "site")))
    if "reference" in steps:
        import numpy as np

        t0 = time.perf_counter()
        np.savez_compressed(args.out / "cpu_reference.npz", **hidden_states(0))
        print(f"CPU reference hidden states of the demo pair ({time.perf_counter() - t0:.0f} s)")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB in all")


if __name__ == "__main__":
    main()
