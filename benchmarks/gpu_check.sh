#!/usr/bin/env bash
# One-shot GPU check (issue 26): build llama-cpp-python 0.3.36 with CUDA from the trimmed source in
# gpu_bundle/, then run benchmarks/gpu_check.py (parity with the CPU build, the 7B-shaped pair written
# and quantized there, photos/s, GPU memory, load time, early stop on/off). Offline; everything it
# prints goes to OUTDIR (gpu_check.log, env.txt, build.log, timings.tsv, results.jsonl, summary.md).
#
# Usage: benchmarks/gpu_check.sh OUTDIR
#   prepare first, on a machine with a network: python benchmarks/gpu_bundle.py  (writes gpu_bundle/, 5 MiB)
#   device tool: run(command="benchmarks/gpu_check.sh $OUT", carry=["gpu_bundle"], timeout_s=600)
# A second run with the same WORK (same machine) goes on where the first stopped: the build resumes,
# files already written are kept.
# Settings (environment): STEPS (default env,build,python), CUDA_ARCH (90-real: H100/H200 machine code
#   only, no PTX), JOBS (all cores), WORK (/tmp/esmc-gpu-check), SHAPE (7b, or small for a rehearsal),
#   PHOTOS (32), BUILD_TIMEOUT (420 s),
#   LLAMA_CPP_DIR (skip the build: a folder holding an installed llama_cpp package, for a CPU rehearsal),
#   PY_STEPS (gpu_check.py's --steps), CONFIGS (gpu_check.py's --configs), FAST_BUILD (1: no FlashAttention
#   kernels, 39 of the 144 CUDA objects fewer, for when the build would not fit the time; the figures then
#   are not a default build's), EXTRA_CMAKE_ARGS (more -D flags, e.g. -DGGML_CUDA_NO_VMM=on where there is
#   no driver, only to rehearse the configure step).
set -u -o pipefail
OUT=$(realpath -m "${1:?give the folder the results go to}")
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=${BUNDLE:-$REPO/gpu_bundle}
WORK=${WORK:-/tmp/esmc-gpu-check}
JOBS=${JOBS:-$(nproc)}
CUDA_ARCH=${CUDA_ARCH:-90-real}
STEPS=${STEPS:-env,build,python}
SHAPE=${SHAPE:-7b}
PHOTOS=${PHOTOS:-32}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-420}
PY_STEPS=${PY_STEPS:-parity,write,quantize,measure}
PY=${PYTHON:-python3}
SRC=$WORK/llama_cpp_python-0.3.36
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
T_START=$(date +%s)

timed() {  # timed NAME COMMAND...: run, and append "NAME<TAB>seconds<TAB>exit status" to timings.tsv
  local name=$1 t0 rc; shift
  t0=$(date +%s%N)
  echo "== $name: $*"
  "$@"; rc=$?
  printf '%s\t%d ms\t%d\n' "$name" $(( ($(date +%s%N) - t0) / 1000000 )) "$rc" | tee -a "$OUT/timings.tsv"
  return $rc
}

environment() {
  {
    date -u; uname -a; echo "cores: $(nproc)"; free -g | head -2; df -h "$WORK" | tail -1
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,compute_cap --format=csv || echo "no nvidia-smi"
    command -v nvcc && nvcc --version | tail -2 || echo "no nvcc on PATH"
    cmake --version | head -1; echo "ninja $(ninja --version)"; $PY --version
    $PY -c 'import numpy; print("numpy", numpy.__version__)'
    # ggml-cuda links cuBLAS: without it the build cannot work, and this says so before minutes are spent
    local roots="${CUDA_HOME:-} ${CUDA_PATH:-} $(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /x/x)")") /usr/local/cuda /usr/lib/x86_64-linux-gnu"
    echo "cuBLAS: $(find $roots -maxdepth 3 -name 'libcublas.so*' 2>/dev/null | head -1)"
  } > "$OUT/env.txt" 2>&1
  cat "$OUT/env.txt"
  grep -q "^cuBLAS: /" "$OUT/env.txt"
}

configure() {
  if [[ -f $WORK/build/build.ninja ]]; then echo "configured before: the build goes on where it stopped"; return 0; fi
  rm -rf "$SRC" "$WORK/build" && tar xJf "$BUNDLE/llama_cpp_python-0.3.36-trimmed.tar.xz" -C "$WORK" &&
  cmake -S "$SRC" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DGGML_NATIVE=on \
    -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off -DLLAMA_BUILD_TOOLS=off -DLLAMA_BUILD_SERVER=off \
    -DCMAKE_INSTALL_PREFIX="$WORK/prefix" -DSKBUILD_PLATLIB_DIR="$WORK/platlib" \
    $([[ ${FAST_BUILD:-0} == 1 ]] && echo -DGGML_CUDA_FA=off) ${EXTRA_CMAKE_ARGS:-}
}

build() {
  timeout "$BUILD_TIMEOUT" cmake --build "$WORK/build" -j "$JOBS" && cmake --install "$WORK/build" > /dev/null
}

ok=0
if [[ ,$STEPS, == *,env,* ]]; then timed env environment || echo "WARNING: no cuBLAS found: the CUDA build needs it"; fi
if [[ -n ${LLAMA_CPP_DIR:-} ]]; then
  LIB_PATH=$LLAMA_CPP_DIR
elif [[ ,$STEPS, == *,build,* ]]; then
  LIB_PATH=$SRC  # the install writes the libraries into the source's llama_cpp/lib, next to its Python files
  # the f16 LM is written while nvcc runs (one core; the build uses the others), quantized after
  if [[ ,$PY_STEPS, == *,write,* ]]; then
    PYTHONPATH="$BUNDLE/site" timed write "$PY" "$REPO/benchmarks/gpu_check.py" --out "$OUT" \
      --workdir "$WORK/models" --steps write --shape "$SHAPE" > "$OUT/write.log" 2>&1 &
    WRITER=$!
  fi
  timed configure configure > "$OUT/configure.log" 2>&1 && timed build build > "$OUT/build.log" 2>&1 || ok=1
  tail -n 5 "$OUT/configure.log" "$OUT/build.log"
  ls -la "$SRC/llama_cpp/lib" || true
  if [[ -n ${WRITER:-} ]]; then wait "$WRITER"; cat "$OUT/write.log"; fi
else
  LIB_PATH=$SRC
fi
if [[ $ok == 0 && ,$STEPS, == *,python,* ]]; then
  PYTHONPATH="$LIB_PATH:$BUNDLE/site" timed python "$PY" "$REPO/benchmarks/gpu_check.py" --out "$OUT" \
    --workdir "$WORK/models" --steps "$PY_STEPS" --shape "$SHAPE" --photos "$PHOTOS" --bundle "$BUNDLE" \
    ${CONFIGS:+--configs "$CONFIGS"} || ok=1
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
fi
echo "gpu_check: exit $ok after $(( $(date +%s) - T_START )) s; results in $OUT"
exit $ok
