#!/usr/bin/env bash
# Until the shipped demo model exists: build a tiny random-weight LLaVA, convert it with
# our converter (f16 + mmproj + Q4_K_M) and run `esmc-desktop inspect` on a sample photo.
# The weights are random, so the tokens it shows are noise: this proves the pipeline runs.
set -euo pipefail
out="${1:-build/tiny}"
mkdir -p "$out"
python -m models.tiny_llava "$out/hf" --sample-image "$out/sample.png" >/dev/null
python convert/llava_to_gguf.py "$out/hf" --outdir "$out" --name tiny --force >/dev/null
esmc-desktop inspect --model "$out/tiny-Q4_K_M.gguf" --mmproj "$out/tiny-mmproj-f16.gguf" \
  --image "$out/sample.png" --prompt "The color of the object is" --npz "$out/states.npz"
