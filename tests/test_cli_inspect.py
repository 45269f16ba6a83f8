"""`esmc-desktop inspect`: the logit lens per layer and token, and hidden states saved for reuse."""

from __future__ import annotations

import numpy as np
from PIL import Image

from esmc_desktop.cli import EXIT_INPUT, EXIT_OK, main
from esmc_desktop.mllm.runtime import LlavaRuntime


def _photo(tmp_path, image):
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path


def test_inspect_prints_a_layer_by_token_grid_and_saves_the_npz(tmp_path, tiny, image, capsys):
    npz = tmp_path / "states.npz"
    code = main(["inspect", "--model", str(tiny.f16.lm), "--mmproj", str(tiny.f16.mmproj),
                 "--image", str(_photo(tmp_path, image)), "--prompt", "The color of the object is",
                 "--npz", str(npz), "--n-ctx", "256"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    n_layers = tiny.config.text_config.num_hidden_layers
    grid = [line for line in out.splitlines() if line.split("|")[0].strip().isdigit()]
    assert [int(line.split("|")[0]) for line in grid] == list(range(n_layers))
    probs = [float(cell.split()[-1]) for line in grid for cell in line.split("|")[1:] if cell.strip()]
    assert all(0.0 < p <= 1.0 for p in probs) and min(probs) < 1.0

    saved = np.load(npz)
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as rt:
        run = rt.run(image, ["The color of the object is"])
    states = run.prompts[0]
    assert saved["prefix_ids"].tolist() == run.prefix_ids
    assert int(saved["n_image_tokens"]) == run.n_image_tokens
    assert saved["token_ids"].tolist() == states.token_ids
    assert saved["tokens"].tolist() == states.tokens
    for layer in range(n_layers):
        np.testing.assert_allclose(saved[f"layer_{layer}"], states.layer(layer), rtol=1e-5, atol=1e-5)


def test_inspect_reports_a_missing_model_with_exit_code_1(tmp_path, tiny, image, capsys):
    code = main(["inspect", "--model", str(tmp_path / "missing.gguf"), "--mmproj", str(tiny.f16.mmproj),
                 "--image", str(_photo(tmp_path, image)), "--prompt", "x"])
    assert code == EXIT_INPUT
    assert "not found" in capsys.readouterr().err
