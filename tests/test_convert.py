"""The converter writes complete, self-describing GGUF files and never harms the user's files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convert.checkpoint import CheckpointError, canonical_name
from convert.llava_to_gguf import convert
from esmc_desktop.mllm.gguf_files import read_info
from esmc_desktop.mllm.runtime import LlavaRuntime

REPO = Path(__file__).resolve().parent.parent


def test_file_names_follow_the_documented_pattern(tiny):
    assert tiny.f16.lm.name == "tiny-f16.gguf"
    assert tiny.f16.mmproj.name == "tiny-mmproj-f16.gguf"
    assert tiny.f16.quantized.name == "tiny-Q4_K_M.gguf"
    assert read_info(tiny.f16.quantized).file_type == "Q4_K_M"


def test_mmproj_holds_every_vision_block_and_the_image_normalization(tiny):
    info = read_info(tiny.f16.mmproj)
    n_blocks = tiny.config.vision_config.num_hidden_layers
    assert info.get("clip.projector_type") == "mlp"
    assert info.get("clip.vision.block_count") == n_blocks
    assert {name.split(".")[2] for name in info.tensor_types if name.startswith("v.blk.")} == {
        str(i) for i in range(n_blocks)}
    assert {"mm.0.weight", "mm.2.weight", "v.class_embd", "v.position_embd.weight"} <= set(info.tensor_types)
    assert info.get("clip.vision.image_mean") == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert info.get("clip.vision.projection_dim") == tiny.config.text_config.hidden_size


def test_lm_carries_tokenizer_special_tokens_and_chat_template(tiny):
    info = read_info(tiny.f16.lm)
    assert info.get("tokenizer.ggml.model") == "llama"
    assert info.get("tokenizer.ggml.tokens") == tiny.config.text_config.vocab_size
    assert info.get("tokenizer.ggml.bos_token_id") == 1
    assert "USER" in info.get("tokenizer.chat_template")


def test_llama_cpp_tokenizes_like_sentencepiece_and_knows_the_image_token(tiny):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny.hf_dir / "tokenizer.model"))
    text = "What are common colors of objects? Answer with single words."
    with LlavaRuntime(tiny.f16.lm) as rt:
        assert rt.tokenize(text) == sp.encode(text)
        assert rt.tokenize("<image>") == [tiny.config.image_token_index]


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path, tiny):
    hf = tmp_path / "pickled"
    hf.mkdir()
    for name in ("config.json", "tokenizer.model", "tokenizer_config.json", "preprocessor_config.json"):
        (hf / name).write_bytes((tiny.hf_dir / name).read_bytes())
    import torch

    torch.save(tiny.torch_model.state_dict(), hf / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        convert(hf, tmp_path / "out", quant="none")
    files = convert(hf, tmp_path / "out", quant="none", allow_pickle=True)
    assert files.lm.is_file() and files.mmproj.is_file()


def test_existing_outputs_are_never_overwritten_without_force(tmp_path, tiny):
    out = tmp_path / "out"
    out.mkdir()
    precious = out / "tiny-f16.gguf"
    precious.write_bytes(b"my own file")
    with pytest.raises(FileExistsError, match="--force"):
        convert(tiny.hf_dir, out, name="tiny", quant="none")
    assert precious.read_bytes() == b"my own file"
    assert not list(out.glob("*.partial"))


def test_not_a_checkpoint_folder(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        convert(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("key, canonical", [
    ("language_model.model.layers.0.self_attn.q_proj.weight", "lm.model.layers.0.self_attn.q_proj.weight"),
    ("model.language_model.layers.0.self_attn.q_proj.weight", "lm.model.layers.0.self_attn.q_proj.weight"),
    ("language_model.lm_head.weight", "lm.lm_head.weight"),
    ("lm_head.weight", "lm.lm_head.weight"),
    ("vision_tower.vision_model.encoder.layers.3.mlp.fc1.weight", "vision.encoder.layers.3.mlp.fc1.weight"),
    ("model.vision_tower.vision_model.embeddings.class_embedding", "vision.embeddings.class_embedding"),
    ("vision_tower.embeddings.patch_embedding.weight", "vision.embeddings.patch_embedding.weight"),
    ("model.multi_modal_projector.linear_2.bias", "projector.linear_2.bias"),
])
def test_every_llava_hf_key_layout_maps_to_one_naming(key, canonical):
    assert canonical_name(key) == canonical


def test_command_line_prints_the_written_paths(tmp_path, tiny):
    result = subprocess.run(
        [sys.executable, str(REPO / "convert" / "llava_to_gguf.py"), str(tiny.hf_dir), "--outdir", str(tmp_path),
         "--name", "cli", "--quant", "none"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "cli-f16.gguf"), str(tmp_path / "cli-mmproj-f16.gguf")]
