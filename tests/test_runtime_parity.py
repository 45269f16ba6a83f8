"""llama.cpp through our runtime computes what transformers computes, on the same token ids.

The measured figures are printed (run with -s to see them) so they can be reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from esmc_desktop.mllm.logit_lens import LensParams, LogitLens
from esmc_desktop.mllm.runtime import LlavaRuntime
from models.tiny_llava import CLIP_MEAN, CLIP_STD, sample_image
from tests.reference import block_outputs, cosine_rows, output_logits, pixel_values

PROMPT = "The color of the object is"


def image_parity(tiny, files, image) -> tuple[np.ndarray, np.ndarray, list]:
    """Per-layer cosine (llama.cpp vs transformers) at the prompt's text tokens after the image."""
    with LlavaRuntime(files.quantized if files is None else files[0], files[1], n_ctx=256) as rt:
        run = rt.run(image, [PROMPT])
    states = run.prompts[0]
    image_id = tiny.config.image_token_index
    ids = run.prefix_ids + [image_id] * run.n_image_tokens + states.token_ids
    ref = block_outputs(tiny.torch_model, ids, pixel_values(image, CLIP_MEAN, CLIP_STD))
    n = len(states.token_ids)
    cos = np.stack([cosine_rows(states.layer(i), ref[i][-n:]) for i in range(len(ref))])
    return cos, states, ref


def test_text_only_f32_matches_transformers_at_every_layer_and_token(tiny):
    with LlavaRuntime(tiny.f32.lm, n_ctx=256) as rt:
        states = rt.run_text("USER: What are common colors of objects? ASSISTANT:")
    ref = block_outputs(tiny.torch_model, states.token_ids)
    cos = np.stack([cosine_rows(states.layer(i), ref[i]) for i in range(len(ref))])
    print(f"\ntext-only f32: min cosine {cos.min():.6f}, mean {cos.mean():.6f}")
    assert cos.shape == (tiny.config.text_config.num_hidden_layers, len(states.token_ids))
    assert cos.min() >= 0.9999


def test_image_f16_matches_transformers(tiny, image):
    cos, _, _ = image_parity(tiny, (tiny.f16.lm, tiny.f16.mmproj), image)
    for layer, row in enumerate(cos):
        print(f"\nimage f16 layer {layer}: min {row.min():.4f} mean {row.mean():.4f}", end="")
        assert row.mean() >= 0.99
        assert row.min() >= 0.95


def test_image_q4_k_m_stays_close_to_transformers(tiny, image):
    cos, _, _ = image_parity(tiny, (tiny.f16.quantized, tiny.f16.mmproj), image)
    print(f"\nimage Q4_K_M: min {cos.min():.4f} mean {cos.mean():.4f} "
          f"per-layer mean {np.round(cos.mean(axis=1), 4).tolist()}")
    assert cos.mean() >= 0.85


def test_logit_lens_top1_at_the_last_block_agrees_with_the_models_own_output(tiny):
    """Over 6 photos x 3 prompts (about 200 tokens): random weights give near-tied logits, so few tokens say little."""
    lens = LogitLens.from_gguf(tiny.f16.lm, LensParams(top_k=50))
    prompts = [PROMPT, "The shape of the object is", "What is in the background?"]
    ours, theirs = [], []
    with LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as rt:
        for seed in range(6):
            image = sample_image(seed)
            run = rt.run(image, prompts)
            pixels = pixel_values(image, CLIP_MEAN, CLIP_STD)
            for states in run.prompts:
                last = rt.n_layer - 1
                ids = run.prefix_ids + [tiny.config.image_token_index] * run.n_image_tokens + states.token_ids
                logits = output_logits(tiny.torch_model, ids, pixels)[-len(states.token_ids):]
                ours.append(lens.project(states.layer(last), last).indices[:, 0])
                theirs.append(np.argmax(logits, axis=1))  # the model's output: the last block's lens
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    agreement = float(np.mean(ours == theirs))
    print(f"\nlogit-lens top-1 agreement at the last layer (f16): {agreement:.3f} over {len(ours)} tokens")
    assert agreement >= 0.95


@pytest.mark.parametrize("variant", ["sharded", "bf16"])
def test_sharded_and_bf16_checkpoints_convert_to_the_same_model(tiny, tmp_path, image, variant):
    from convert.llava_to_gguf import convert
    from models.tiny_llava import save_checkpoint

    hf = tmp_path / variant
    n_sp = tiny.config.image_token_index
    if variant == "sharded":
        save_checkpoint(tiny.torch_model, hf, n_sp, max_shard_size="2MB")
        assert (hf / "model.safetensors.index.json").is_file()
        assert len(list(hf.glob("*.safetensors"))) > 1
    else:
        import copy

        save_checkpoint(copy.deepcopy(tiny.torch_model), hf, n_sp, dtype="bfloat16")
    (hf / "tokenizer.model").write_bytes((tiny.hf_dir / "tokenizer.model").read_bytes())
    files = convert(hf, tmp_path / "gguf", name=variant, outtype="f16", quant="none")
    with LlavaRuntime(files.lm, files.mmproj, n_ctx=256) as ours, \
            LlavaRuntime(tiny.f16.lm, tiny.f16.mmproj, n_ctx=256) as base:
        a = ours.run(image, [PROMPT]).prompts[0].hidden
        b = base.run(image, [PROMPT]).prompts[0].hidden
    cos = cosine_rows(a, b)
    print(f"\n{variant} vs single-file f32 checkpoint (both f16 GGUF): min cosine {cos.min():.5f}")
    if variant == "sharded":
        np.testing.assert_array_equal(a, b)
    else:
        assert cos.min() >= 0.99


def test_image_features_equal_transformers_llava_features(tiny, image):
    """The projector output itself, patch by patch: text-token cosines alone hid a broken vision graph.

    This also pins the vision depth: llama.cpp must run exactly the CLIP blocks LLaVA uses
    (up to the second-to-last); one block more or fewer drops the cosine far below 0.999.
    """
    import torch

    with LlavaRuntime(tiny.f32.lm, tiny.f32.mmproj, n_ctx=256) as rt:
        ours = rt.image_features(image)
        assert rt._cls_fix.fixed + rt._cls_fix.already_first == 1
    with torch.no_grad():
        theirs = tiny.torch_model.model.get_image_features(
            pixel_values=pixel_values(image, CLIP_MEAN, CLIP_STD),
            vision_feature_layer=-2, vision_feature_select_strategy="default")
    theirs = (theirs[0] if isinstance(theirs, (list, tuple)) else getattr(theirs, "pooler_output", theirs))
    theirs = np.asarray(theirs).reshape(ours.shape)
    cos = cosine_rows(ours, theirs)
    print(f"\nimage features (f32 mmproj) vs transformers: min cosine {cos.min():.6f}")
    assert cos.min() >= 0.999
