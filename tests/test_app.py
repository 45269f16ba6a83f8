"""The application layer: the use cases the CLI and the window share, driven as either face drives them."""

from __future__ import annotations

import json
import threading

import pytest

from esmc_desktop.app.assign import assign_photos
from esmc_desktop.app.export import export_result, preview
from esmc_desktop.app.feedback import Feedback
from esmc_desktop.app.model import ModelFiles
from esmc_desktop.app.sort import ComputeRequest, Criterion, MethodSettings, sort_photos
from esmc_desktop.app.undo import undo_move
from esmc_desktop.errors import Cancelled, FolderError, OutputExistsError
from esmc_desktop.method.onnx_head import OnnxHead
from esmc_desktop.mllm.gpu import GpuLayers
from esmc_desktop.photos.scan import content_hash
from tests.test_pipeline import make_photos

SETTINGS = MethodSettings(n_samples=4)
CPU = ComputeRequest(GpuLayers(0), threads=1)  # one thread: see tests/test_pipeline.py, model_args


@pytest.fixture(scope="module")
def sorted_once(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("app")
    photos = make_photos(root / "photos", 12)
    notes: list[str] = []
    result = sort_photos(photos, [Criterion.parse("color of the object:2", "red,green")],
                         ModelFiles(tiny.f16.quantized, tiny.f16.mmproj), settings=SETTINGS, compute=CPU,
                         cache_dir=root / "cache", feedback=Feedback(note=notes.append))
    return root, result, notes


def test_sort_says_where_it_runs_and_returns_one_result_with_each_criterion_s_computation(sorted_once):
    _, result, notes = sorted_once
    assert notes == ["running on the CPU"]
    [crit] = result.criteria
    assert crit.text == "color of the object" and crit.prompt == "The color of the object is"
    assert crit.weights.w2.shape[1] == len(crit.names) == 2 and len(crit.labels) == len(result.photos) == 12
    assert not result.edited


def test_export_writes_folders_manifest_and_heads_from_the_result_as_the_user_edited_it(sorted_once, tmp_path,
                                                                                          tiny):
    root, result, _ = sorted_once
    result.rename(0, 0, "mine")
    moved = result.criteria[0].members(1)[0]
    result.move(0, moved, 0)
    assert result.edited
    out = tmp_path / "sorted"
    assert preview(result, out)[out / "color of the object" / "mine"] == len(result.criteria[0].members(0))
    report = export_result(result, out)
    assert report.files == 12 and not result.edited
    in_mine = {content_hash(f) for f in (out / "color of the object" / "mine").iterdir()}
    assert result.photos[moved].sha256 in in_mine and len(in_mine) == len(result.criteria[0].members(0))
    saved = json.loads((out / ".esmc" / "result.json").read_text())
    assert saved["criteria"][0]["names"] == result.criteria[0].names
    head = OnnxHead(out / ".esmc" / saved["criteria"][0]["head"])
    assert head.metadata["names"] == result.criteria[0].names and head.metadata["layer"] == result.criteria[0].layer

    new = make_photos(tmp_path / "new", 3)
    done = assign_photos(new, out, compute=CPU)
    assert len(done.photos) == 3 and done.export.files == 3
    placed = json.loads((out / "manifest.json").read_text())
    assert {row["cluster_name"] for row in placed} <= set(result.criteria[0].names)


def test_a_cancelled_export_says_what_it_left_and_a_move_can_be_undone(sorted_once, tmp_path):
    _, result, _ = sorted_once
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="no original was removed"):
        export_result(result, tmp_path / "sorted", feedback=Feedback(cancel=cancel))
    copies = make_photos(tmp_path / "copies", 12)  # same photos (same content), in a folder we may move from
    before = sorted(content_hash(p) for p in copies.rglob("*.png"))
    result.photos = [type(p)(next(copies.rglob(p.path.name)), p.sha256, p.size) for p in result.photos]
    export_result(result, tmp_path / "moved", mode="move")
    assert not list(copies.rglob("*.png"))
    assert undo_move(tmp_path / "moved") == 12
    assert sorted(content_hash(p) for p in copies.rglob("*.png")) == before


def test_the_use_cases_check_folders_before_any_work(sorted_once, tmp_path, tiny):
    _, result, _ = sorted_once
    model = ModelFiles(tiny.f16.quantized, tiny.f16.mmproj)
    with pytest.raises(FolderError, match="does not exist"):
        sort_photos(tmp_path / "nowhere", [Criterion("color")], model, settings=SETTINGS, compute=CPU)
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    with pytest.raises(OutputExistsError, match="is a file"):
        export_result(result, taken)
    assert taken.read_text() == "mine"
