"""`esmc-desktop models pull`: real huggingface_hub against a hub-style server on 127.0.0.1.

The server holds the tiny model under the catalogue's real repository and file
names, with a legacy mmproj as every published LLaVA-1.5 repository has.
"""

from __future__ import annotations

import hashlib
import socket
import threading

import gguf
import pytest

from esmc_desktop.cli import EXIT_INPUT, EXIT_OK, main
from esmc_desktop.mllm.catalog import find_model
from esmc_desktop.mllm.download import DownloadCancelled
from esmc_desktop.mllm.gguf_files import read_info
from esmc_desktop.mllm.pull import plan_pull, run_pull
from esmc_desktop.mllm.registry import ModelRegistry
from tests.hub_server import HubFiles, HubServer
from tests.legacy import make_legacy_mmproj
from tests.test_pipeline import make_photos

MODEL = find_model("llava-1.5-7b")
LM_KEY = f"{MODEL.repo_id}/{MODEL.lm_file('Q4_K_M')}"
MMPROJ_KEY = f"{MODEL.repo_id}/{MODEL.mmproj_file}"
CHUNK = 64 * 1024


@pytest.fixture
def user_data(tmp_path, monkeypatch):
    """A fresh user data folder: no registered models, no downloads."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "esmc-desktop"


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny) -> HubFiles:
    """The tiny model as a hub would publish it: a Q4_K_M LM and a legacy mmproj."""
    legacy = make_legacy_mmproj(tiny.f16.mmproj, tmp_path_factory.mktemp("pub") / "mmproj-legacy.gguf")
    return HubFiles({LM_KEY: tiny.f16.quantized.read_bytes(), MMPROJ_KEY: legacy.read_bytes()})


@pytest.fixture
def hub(published):
    files = HubFiles(dict(published.files))
    with HubServer(files) as server:
        yield server


def test_pull_downloads_repairs_the_legacy_mmproj_registers_the_default_and_sorting_stays_offline(
        user_data, hub, tmp_path, monkeypatch, capsys):
    assert main(["models", "pull", "--from", hub.url]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "language model: llava-v1.5-7b-Q4_K_M.gguf" in printed and "to download" in printed  # sizes before
    entry = ModelRegistry().get()
    assert entry.name == "llava-1.5-7b"  # the default now, not the demo model
    downloaded = user_data / "models" / "llava-1.5-7b" / MODEL.mmproj_file
    assert downloaded.read_bytes() == hub.files.files[MMPROJ_KEY]  # the download is never modified
    assert entry.mmproj != downloaded and read_info(entry.mmproj).get("esmc.repaired_from") == downloaded.name
    # the projector registered is the repaired one in Q8_0: half its memory, the same readings
    assert read_info(entry.mmproj).get("general.file_type") == int(gguf.LlamaFileType.MOSTLY_Q8_0)
    assert {t.tensor_type for t in gguf.GGUFReader(entry.mmproj).tensors} >= {gguf.GGMLQuantizationType.Q8_0}
    assert hashlib.sha256(entry.lm.read_bytes()).hexdigest() == hashlib.sha256(hub.files.files[LM_KEY]).hexdigest()

    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    photos = make_photos(tmp_path / "photos", 8)
    assert main(["cluster", str(photos), "--criterion", "color of the object:2", "--keywords",
                 "color of the object=red,green", "--out", str(tmp_path / "sorted"),
                 "--cache", str(tmp_path / "cache"), "--gpu-layers", "0"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "model: llava-1.5-7b" in err and "sorted by model llava-1.5-7b" in out
    assert "demo model" not in err


def test_a_cut_connection_is_resumed_where_it_broke_off(user_data, hub, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", CHUNK)  # what arrived is kept per chunk
    half = len(hub.files.files[LM_KEY]) // 2
    hub.files.cut_after[LM_KEY] = half
    run_pull(plan_pull(source=hub.url))
    assert hub.files.gets(LM_KEY) == [None, f"bytes={half // CHUNK * CHUNK}-"]
    assert ModelRegistry().get().lm.read_bytes() == hub.files.files[LM_KEY]


def test_a_cancelled_pull_resumes_from_its_partial_file(user_data, hub, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", CHUNK)
    cancel = threading.Event()

    def stop_after_first_chunk(p):
        if p.stage == "download" and p.done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        run_pull(plan_pull(source=hub.url), progress=stop_after_first_chunk, cancel=cancel)
    assert ModelRegistry().default_name() == "demo"  # nothing registered
    plan = plan_pull(source=hub.url)
    assert plan.lm.present == CHUNK and "resuming" in "\n".join(plan.describe())
    run_pull(plan)
    assert hub.files.gets(LM_KEY)[-1] == f"bytes={CHUNK}-"
    assert ModelRegistry().get().lm.read_bytes() == hub.files.files[LM_KEY]
    gets = len(hub.files.gets(LM_KEY))
    assert main(["models", "pull", "--from", hub.url, "--quiet"]) == EXIT_OK  # again: nothing to fetch
    assert len(hub.files.gets(LM_KEY)) == gets and ModelRegistry().default_name() == "llava-1.5-7b"


def test_a_file_whose_hash_is_not_the_hubs_is_removed_and_never_registered(user_data, hub, capsys):
    hub.files.advertised_sha[LM_KEY] = "0" * 64
    assert main(["models", "pull", "--from", hub.url, "--quiet"]) == EXIT_INPUT
    assert "SHA-256 is not the hub's" in capsys.readouterr().err
    assert not list((user_data / "models" / "llava-1.5-7b").glob(f"{MODEL.lm_file('Q4_K_M')}*"))
    assert ModelRegistry().default_name() == "demo"
    assert [e.name for e in ModelRegistry().entries()] == ["demo"]


def test_free_space_is_checked_before_anything_is_downloaded(user_data, hub, capsys):
    hub.files.advertised_size[LM_KEY] = 2**60
    assert main(["models", "pull", "--from", hub.url, "--quiet"]) == EXIT_INPUT
    assert "not enough disk space" in capsys.readouterr().err
    assert hub.files.gets(LM_KEY) == []


def test_files_already_on_disk_are_used_in_place(user_data, published, tmp_path, capsys):
    folder = tmp_path / "have"
    folder.mkdir()
    for key, data in published.files.items():
        (folder / key.rsplit("/", 1)[1]).write_bytes(data)
    assert main(["models", "pull", "llava-1.5-7b", "--from", str(folder), "--quiet"]) == EXIT_OK
    out, err = capsys.readouterr()  # quiet: no plan, no stages, only what was done
    assert err == "" and "already here" not in out and out.splitlines()[-1].startswith("llava-1.5-7b is registered")
    entry = ModelRegistry().get()
    assert entry.lm == (folder / MODEL.lm_file("Q4_K_M")).resolve()
    assert entry.mmproj.parent == user_data / "models" / "llava-1.5-7b"  # the repair is written to our folder


@pytest.mark.parametrize("args, says", [
    (["models", "pull", "llava-9b"], "no model called 'llava-9b'"),
    (["models", "pull", "--quant", "Q1_X"], "comes in"),
    (["models", "pull", "--from", "http://127.0.0.1:9"], "cannot reach 127.0.0.1:9"),
    (["models", "pull", "--from", "/no/such/folder"], "neither"),
])
def test_bad_pulls_say_what_to_do(user_data, args, says, capsys):
    assert main(args) == EXIT_INPUT
    assert says in capsys.readouterr().err
