"""Model files users bring: checked, legacy mmproj repaired, pairs remembered, GPU use planned."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import pytest

from esmc_desktop.cli import EXIT_INPUT, EXIT_OK, main
from esmc_desktop.errors import EsmcError, ModelFileError, OutputExistsError
from esmc_desktop.mllm.gguf_files import read_info
from esmc_desktop.mllm.gpu import GpuLayers, gpu_install_command, plan_gpu_layers
from esmc_desktop.mllm.legacy_mmproj import is_legacy, repair_mmproj
from esmc_desktop.mllm.registry import ModelRegistry
from esmc_desktop.mllm.runtime import LlavaRuntime
from tests.legacy import make_legacy_mmproj
from tests.reference import cosine_rows

REPO = Path(__file__).resolve().parent.parent
PINNED_LLAMA_CPP = "0.3.36"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def legacy(tmp_path, tiny) -> Path:
    return make_legacy_mmproj(tiny.f32.mmproj, tmp_path / "mmproj-model-f16.gguf")


def test_a_legacy_mmproj_is_recognised_and_refused_with_the_repair_command(tiny, legacy):
    assert is_legacy(read_info(legacy))
    assert not is_legacy(read_info(tiny.f32.mmproj))
    with pytest.raises(ModelFileError, match="repair-mmproj"):
        LlavaRuntime(tiny.f32.lm, legacy)


def test_repair_gives_exactly_the_features_of_a_full_conversion_and_leaves_the_input_alone(tmp_path, tiny, legacy, image):
    before = sha(legacy)
    repaired = tmp_path / "repaired.gguf"
    assert repair_mmproj(legacy, repaired) == tiny.config.vision_config.num_hidden_layers
    assert sha(legacy) == before
    assert not is_legacy(read_info(repaired))
    features = {}
    for name, mmproj in (("full", tiny.f32.mmproj), ("legacy", legacy), ("repaired", repaired)):
        with LlavaRuntime(tiny.f32.lm, mmproj, n_ctx=256, allow_legacy_mmproj=True) as rt:
            features[name] = rt.image_features(image)
    legacy_cos = cosine_rows(features["legacy"], features["full"])
    print(f"\nlegacy mmproj vs full: min cosine {legacy_cos.min():.4f}; repaired: max |diff| "
          f"{np.abs(features['repaired'] - features['full']).max():.2e}")
    np.testing.assert_array_equal(features["repaired"], features["full"])
    assert legacy_cos.min() < 0.99


def test_repair_refuses_a_file_that_needs_none_and_never_overwrites(tmp_path, tiny, legacy):
    with pytest.raises(ModelFileError, match="needs no repair"):
        repair_mmproj(tiny.f32.mmproj, tmp_path / "x.gguf")
    taken = tmp_path / "taken.gguf"
    taken.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        repair_mmproj(legacy, taken)
    assert taken.read_bytes() == b"mine"


def test_models_check_describes_both_files_and_their_fit(tiny, capsys):
    assert main(["models", "check", str(tiny.f16.quantized), str(tiny.f16.mmproj)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "quantization Q4_K_M" in out and "vision blocks: 3" in out and "image size: 56" in out
    assert "embedding width: 256" in out and "vocabulary: 448" in out and out.strip().endswith("work together")


def test_models_check_flags_legacy_truncated_and_foreign_files(tmp_path, tiny, legacy, capsys):
    assert main(["models", "check", str(tiny.f16.lm), str(legacy)]) == EXIT_INPUT
    assert "legacy" in capsys.readouterr().out
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny.f16.lm.read_bytes()[:5000])
    assert main(["models", "check", str(cut), str(tiny.f16.mmproj)]) == EXIT_INPUT
    assert re.search(r"problem: .*(truncated|damaged)", capsys.readouterr().out)
    foreign = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(foreign, arch="gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert main(["models", "check", str(foreign), str(tiny.f16.mmproj)]) == EXIT_INPUT
    assert "'gpt2' model" in capsys.readouterr().out


def test_registry_remembers_pairs_in_the_user_data_folder(tmp_path, tiny, legacy, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["models", "add", "tiny", str(tiny.f16.quantized), str(tiny.f16.mmproj)]) == EXIT_OK
    assert (tmp_path / "data" / "esmc-desktop" / "models.json").is_file()
    entry = ModelRegistry().get("tiny")
    assert entry.lm == tiny.f16.quantized.resolve() and len(entry.fingerprint) == 16
    with pytest.raises(EsmcError, match="already exists"):
        ModelRegistry().add("tiny", tiny.f16.lm, tiny.f16.mmproj)
    with pytest.raises(ModelFileError, match="legacy"):
        ModelRegistry().add("old", tiny.f16.lm, legacy)
    capsys.readouterr()
    assert main(["models", "list"]) == EXIT_OK
    assert "tiny" in capsys.readouterr().out
    assert main(["models", "remove", "tiny"]) == EXIT_OK
    assert tiny.f16.quantized.is_file()
    with pytest.raises(EsmcError, match="no model named"):
        ModelRegistry().get("tiny")


def test_a_registered_model_whose_file_moved_gets_a_clear_message(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    lm = tmp_path / "lm.gguf"
    lm.write_bytes(tiny.f16.lm.read_bytes())
    ModelRegistry().add("moving", lm, tiny.f16.mmproj)
    lm.unlink()
    with pytest.raises(ModelFileError, match="is gone"):
        ModelRegistry().get("moving")


def test_llama_cpp_is_the_pinned_version_whose_vision_semantics_we_checked():
    """Upgrading llama-cpp-python must be deliberate: the CLS-order fix and the vision depth
    (test_image_features_equal_transformers_llava_features) were verified on this version."""
    assert llama_cpp.__version__ == PINNED_LLAMA_CPP
    assert f'"llama-cpp-python=={PINNED_LLAMA_CPP}"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.skipif(bool(llama_cpp.llama_supports_gpu_offload()), reason="a GPU build is installed")
def test_gpu_layers_on_a_cpu_only_build(tiny):
    """The GPU build's install command is named only where this machine has a GPU it could use."""
    command = gpu_install_command()
    plan = plan_gpu_layers(GpuLayers.parse("auto"), tiny.f16.lm, 4)
    assert plan.n_gpu_layers == 0
    if command is None:
        assert plan.message == "running on the CPU"
    else:
        assert "without GPU support" in plan.message and command in plan.message
    assert plan_gpu_layers(GpuLayers.parse("0"), tiny.f16.lm, 4).n_gpu_layers == 0
    with pytest.raises(EsmcError, match="without GPU support") as refused:
        plan_gpu_layers(GpuLayers.parse("8"), tiny.f16.lm, 4)
    assert ("CMAKE_ARGS" in str(refused.value)) == (command is not None) and "--gpu-layers 0" in str(refused.value)
    with pytest.raises(EsmcError, match="auto"):
        GpuLayers.parse("lots")


def test_the_gpu_setting_has_one_shape_written_as_the_option_takes_it():
    assert GpuLayers.parse(None) == GpuLayers.parse("auto") == GpuLayers.parse("") == GpuLayers()
    assert GpuLayers.parse(" 12 ") == GpuLayers(12) and str(GpuLayers(12)) == "12" and str(GpuLayers()) == "auto"
    assert GpuLayers.parse(str(GpuLayers(0))).count == 0 and GpuLayers().auto and not GpuLayers(0).auto
    with pytest.raises(EsmcError, match="not '-1'"):
        GpuLayers.parse("-1")


def test_the_default_model_is_the_demo_until_another_is_made_the_default(tmp_path, tiny):
    registry = ModelRegistry(tmp_path / "models.json")
    assert registry.default_name() == "demo"
    registry.add("tiny", tiny.f16.quantized, tiny.f16.mmproj)
    assert registry.default_name() == "demo"  # adding does not switch
    registry.set_default("tiny")
    assert registry.get().name == "tiny" and ModelRegistry(tmp_path / "models.json").default_name() == "tiny"
    registry.remove("tiny")
    assert registry.get().name == "demo"
