"""`esmc-desktop learn OUT` keeps what was right: photos the clustering had right stay where they are.

The shipped demo model sorts 60 demo-world photos by shape and gets a few wrong; a user moves those
to their right folders in a file manager and runs `learn`. Every photo the user did not touch was
right before, and must be right after (issue 24: one of them was moved, NMI 1.000 -> 0.963). The
photos' true shapes are known to this test only, as a user would know them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from esmc_desktop.cli import EXIT_OK, main
from esmc_desktop.demo.world import write_photo_folder
from esmc_desktop.method.metrics import scores

CRITERION = "shape of the object"


def where(out: Path) -> dict[str, str]:
    """Photo file name -> the cluster folder it is in now."""
    return {p.name: p.parent.name for p in (out / CRITERION).glob("*/*.png")}


def mistakes(shapes: dict[str, str], sorted_by_model: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each shape's folder (the shape most of its photos have) and the photos the model put elsewhere, as a user
    looking at the folders sees them."""
    majority = {folder: Counter(s for p, s in shapes.items() if sorted_by_model[p] == folder).most_common(1)[0][0]
                for folder in set(sorted_by_model.values())}
    folder_of = {shape: folder for folder, shape in majority.items()}
    assert len(folder_of) == 5, "each cluster is mostly one shape"
    return folder_of, sorted(p for p, folder in sorted_by_model.items() if folder_of[shapes[p]] != folder)


def nmi(shapes: dict[str, str], folders: dict[str, str], photos: list[str]) -> float:
    return scores([shapes[p] for p in photos], [folders[p] for p in photos])["nmi"]


# Held-out sets where the demo model reads 1-5 of 60 shapes wrong and learning moved a right photo before a move
# had to be surer than the clustering the user corrected: 4 and 6 (one photo each), 49 (one right star photo to
# cross, NMI 0.961). 66 moved one before the look-alike vote.
@pytest.mark.parametrize("seed", [4, 6, 49, 66])
def test_learning_from_the_photos_a_user_put_right_leaves_every_other_photo_where_it_was(tmp_path, monkeypatch,
                                                                                       capsys, seed):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the shipped demo model, whatever the user registered
    shapes = {path.name: spec.shape for path, spec in write_photo_folder(tmp_path / "photos", 60, seed=seed)}
    out = tmp_path / "sorted"
    assert main(["cluster", str(tmp_path / "photos"), "--criterion", f"{CRITERION}:5", "--keywords",
                 f"{CRITERION}=circle,square,triangle,star,cross", "--out", str(out), "--cache", str(tmp_path / "cache"),
                 "--threads", "1", "--gpu-layers", "0", "--quiet"]) == EXIT_OK
    sorted_by_model = where(out)
    folder_of, wrong = mistakes(shapes, sorted_by_model)
    untouched = sorted(set(shapes) - set(wrong))
    assert 0 < len(wrong) <= 6 and nmi(shapes, sorted_by_model, untouched) == pytest.approx(1.0)

    for photo in wrong:  # the user puts each wrong photo into its shape's folder
        right = out / CRITERION / folder_of[shapes[photo]] / photo
        shutil.move(out / CRITERION / sorted_by_model[photo] / photo, right)
    capsys.readouterr()
    assert main(["learn", str(out), "--cache", str(tmp_path / "cache"), "--json"]) == EXIT_OK
    learnt = json.loads(capsys.readouterr().out)["criteria"][0]

    assert learnt["corrections"] == len(wrong) and learnt["retrained"]
    after = where(out)
    assert all(after[p] == folder_of[shapes[p]] for p in wrong)  # the user's photos stay put
    assert nmi(shapes, after, untouched) >= 0.99
    assert learnt["moved"] == []
