#!/usr/bin/env bash
# Until the shipped demo model exists: build a tiny random-weight LLaVA, convert it with our
# converter (f16 + mmproj + Q4_K_M), then run the main job on generated photos:
# `esmc-desktop cluster` (two criteria, folders under build/tiny/sorted), and `inspect` on one photo.
# The weights are random, so cluster names and lens tokens are noise: this proves the whole path runs.
set -euo pipefail
out="${1:-build/tiny}"
mkdir -p "$out/photos"
python -m models.tiny_llava "$out/hf" --sample-image "$out/sample.png" >/dev/null
python convert/llava_to_gguf.py "$out/hf" --outdir "$out" --name tiny --force >/dev/null
python - "$out/photos" <<'PY'
import sys
from pathlib import Path
from PIL import Image
from models.tiny_llava import sample_image
for i in range(24):
    Image.fromarray(sample_image(i)).save(Path(sys.argv[1]) / f"photo-{i:02d}.png")
PY
model=(--model "$out/tiny-Q4_K_M.gguf" --mmproj "$out/tiny-mmproj-f16.gguf")
esmc-desktop cluster "$out/photos" --criterion "color of the object:3" --criterion "shape of the object:2" \
  --keywords "color of the object=red,green,blue" --out "$out/sorted" --cache "$out/cache" "${model[@]}"
esmc-desktop inspect "${model[@]}" --image "$out/sample.png" --prompt "The color of the object is" \
  --npz "$out/states.npz"
