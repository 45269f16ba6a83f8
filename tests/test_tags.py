"""Tag export: keywords land where photo tools read them, nothing else changes, and undo takes exactly them back.

Results are read back with exiftool, the reader digiKam and Lightroom users rely on, not with
the library that wrote them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esmc_desktop.photos.export import ExportError, ExportRow, Source, export, sources
from esmc_desktop.photos.undo import undo_export
from esmc_desktop.photos.scan import content_hash, scan
from esmc_desktop.photos.xmp import HIERARCHICAL, SUBJECT, TAGS_LIST, keywords_for
from models.tiny_llava import sample_image

REPO = Path(__file__).resolve().parent.parent
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool is not installed (Debian: apt-get install libimage-exiftool-perl)")
OURS = ("Subject", "HierarchicalSubject", "TagsList")

# A darktable/digiKam-style sidecar: a rating, a colour label, keywords of the user's own (one of
# them, "red", is also a cluster name below), and an edit history with structures.
USER_SIDECAR = textwrap.dedent("""\
    <?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
    <x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
     <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description rdf:about=""
        xmlns:xmp="http://ns.adobe.com/xap/1.0/"
        xmlns:dc="http://purl.org/dc/elements/1.1/"
        xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
        xmlns:darktable="http://darktable.sf.net/"
       xmp:Rating="4"
       xmp:Label="Green"
       darktable:xmp_version="5">
       <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>red</rdf:li></rdf:Bag></dc:subject>
       <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Italy|Rome</rdf:li></rdf:Bag></lr:hierarchicalSubject>
       <darktable:history>
        <rdf:Seq>
         <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000803f"/>
         <rdf:li darktable:operation="crop" darktable:enabled="0" darktable:params="00000000"/>
        </rdf:Seq>
       </darktable:history>
      </rdf:Description>
     </rdf:RDF>
    </x:xmpmeta>
    <?xpacket end="w"?>
    """).encode("utf-8")


def exiftool_all(paths: list[Path]) -> dict[str, dict]:
    """Every XMP tag exiftool reads in each file (by path), structures as nested JSON, without its own file facts."""
    out = subprocess.run(["exiftool", "-j", "-struct", "-XMP:all", *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout
    return {tags.pop("SourceFile"): tags for tags in json.loads(out)}


def exiftool(path: Path) -> dict:
    return exiftool_all([path])[str(path)]


def as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def make_folder(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(sample_image(i)).save(folder / f"IMG_{i:04d}.{'png' if i == 3 else 'JPG'}")
    return folder


def colour_and_shape(photos: list[Source]) -> list[ExportRow]:
    """Two criteria: the photos alternately red and blue, and all round."""
    return ([ExportRow(p, "color of the car", i % 2, ["red", "blue"][i % 2], 0.9) for i, p in enumerate(photos)] +
            [ExportRow(p, "shape", 0, "round", 0.8) for p in photos])


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: content_hash(p) for p in sorted(folder.iterdir()) if p.is_file()}


@needs_exiftool
def test_sidecars_hold_the_flat_and_hierarchical_keywords_and_the_photos_are_untouched(tmp_path):
    photos = make_folder(tmp_path / "photos")
    before = hashes(photos)
    found = sources(scan(photos).photos)
    rows = export(colour_and_shape(found), tmp_path / "out", mode="tags")
    assert hashes(photos).items() >= before.items(), "every photo's bytes are as they were"
    for i, photo in enumerate(p.path for p in found):
        sidecar = photo.with_name(photo.name + ".xmp")  # IMG_0000.JPG.xmp: digiKam, darktable, Immich
        colour = ["red", "blue"][i % 2]
        tags = exiftool(sidecar)
        assert tags["Subject"] == [colour, "round"]
        assert tags["HierarchicalSubject"] == [f"ESMC|color of the car|{colour}", "ESMC|shape|round"]
        assert tags["TagsList"] == [f"ESMC/color of the car/{colour}", "ESMC/shape/round"]
        assert {r.destination for r in rows if r.source == str(photo)} == {str(sidecar.absolute())}
    assert len(rows) == 2 * len(found)


@needs_exiftool
def test_a_user_sidecar_keeps_its_rating_tags_and_edits_and_undo_gives_back_its_exact_bytes(tmp_path):
    photos = make_folder(tmp_path / "photos")
    sidecar = photos / "IMG_0000.JPG.xmp"
    sidecar.write_bytes(USER_SIDECAR)
    theirs = exiftool(sidecar)
    found = sources(scan(photos).photos)
    export(colour_and_shape(found), tmp_path / "out", mode="tags")

    merged = exiftool(sidecar)
    assert {k: v for k, v in merged.items() if k not in OURS} == {k: v for k, v in theirs.items() if k not in OURS}
    assert merged["Subject"] == ["holiday", "red", "round"], "theirs first, 'red' not repeated, then ours"
    assert merged["HierarchicalSubject"] == ["Places|Italy|Rome", "ESMC|color of the car|red", "ESMC|shape|round"]

    assert undo_export(tmp_path / "out") == (0, len(found))
    assert sidecar.read_bytes() == USER_SIDECAR
    assert sorted(p.name for p in photos.glob("*.xmp")) == ["IMG_0000.JPG.xmp"], "the sidecars we made are gone"


@needs_exiftool
def test_undo_after_another_program_changed_the_sidecar_removes_only_our_keywords(tmp_path):
    photos = make_folder(tmp_path / "photos")
    sidecar = photos / "IMG_0000.JPG.xmp"
    sidecar.write_bytes(USER_SIDECAR)
    found = sources(scan(photos).photos)
    export(colour_and_shape(found), tmp_path / "out", mode="tags")
    fresh = photos / "IMG_0001.JPG.xmp"
    for path in (sidecar, fresh):  # the user rates the photos and adds a keyword in another program
        subprocess.run(["exiftool", "-overwrite_original", "-XMP-xmp:Rating=5", "-XMP-dc:Subject+=family",
                        str(path)], check=True, capture_output=True)

    undo_export(tmp_path / "out")
    tags = exiftool(sidecar)
    assert tags["Rating"] == 5 and tags["Label"] == "Green"
    assert tags["Subject"] == ["holiday", "red", "family"], "theirs, including their own 'red', stay"
    assert as_list(tags["HierarchicalSubject"]) == ["Places|Italy|Rome"] and "TagsList" not in tags
    assert len(tags["History"]) == 2
    tags = exiftool(fresh)
    assert tags["Rating"] == 5 and as_list(tags["Subject"]) == ["family"]
    assert "HierarchicalSubject" not in tags and "TagsList" not in tags


@needs_exiftool
@pytest.mark.parametrize("edit", [["-XMP-xmp:Rating=5"], ["-XMP-xmp:Label=Red", "-XMP-dc:Title=Rome"]],
                         ids=["rating", "label-and-title"])
def test_undo_takes_our_keywords_out_of_every_field_whatever_exiftool_edited_since(tmp_path, edit):
    photos = make_folder(tmp_path / "photos")
    mine = photos / "IMG_0000.JPG.xmp"
    mine.write_bytes(USER_SIDECAR)
    found = sources(scan(photos).photos)
    export(colour_and_shape(found), tmp_path / "out", mode="tags")
    sidecars = sorted(photos.glob("*.xmp"))
    for path in sidecars:  # an edit in another program that touches none of the keyword fields
        subprocess.run(["exiftool", "-overwrite_original", *edit, str(path)], check=True, capture_output=True)

    assert undo_export(tmp_path / "out") == (0, len(found))
    ours = {"red", "blue", "round"}
    for path, tags in exiftool_all(sidecars).items():
        left = {field: as_list(tags.get(field)) for field in OURS}
        if path == str(mine):
            assert left == {"Subject": ["holiday", "red"], "HierarchicalSubject": ["Places|Italy|Rome"],
                            "TagsList": []}, "the user's own keywords, their 'red' included, stay"
            assert tags["Rating"] == 4 or "-XMP-xmp:Rating=5" in edit
        else:
            assert not ours & set(left["Subject"]), f"{path}: dc:subject still holds {left['Subject']}"
            assert left["HierarchicalSubject"] == [] and left["TagsList"] == []
        assert ("Rating" in tags) == ("-XMP-xmp:Rating=5" in edit or path == str(mine)), "their edit stays"


def test_a_second_export_of_the_same_keywords_writes_nothing(tmp_path):
    photos = make_folder(tmp_path / "photos")
    found = sources(scan(photos).photos)
    export(colour_and_shape(found), tmp_path / "out", mode="tags")
    snapshot = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in photos.iterdir()}
    journal = (tmp_path / "out" / ".esmc" / "tags-journal.jsonl").read_text()
    export(colour_and_shape(found), tmp_path / "out", mode="tags")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in photos.iterdir()} == snapshot
    assert (tmp_path / "out" / ".esmc" / "tags-journal.jsonl").read_text() == journal


def test_a_sidecar_that_cannot_be_read_is_left_alone_and_named_and_the_rest_is_tagged(tmp_path):
    photos = make_folder(tmp_path / "photos")
    broken = photos / "IMG_0001.JPG.xmp"
    broken.write_bytes(b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><oops')
    found = sources(scan(photos).photos)
    with pytest.raises(ExportError, match=r"IMG_0001\.JPG\.xmp.*left as it is.*export again"):
        export(colour_and_shape(found), tmp_path / "out", mode="tags")
    assert broken.read_bytes().endswith(b"<oops")
    assert (photos / "IMG_0000.JPG.xmp").is_file() and (photos / "IMG_0002.JPG.xmp").is_file()


_KILLED_EXPORT = """
import os, signal, sys
from pathlib import Path
from esmc_desktop.photos.export import ExportRow, export, sources
from esmc_desktop.photos.scan import scan

photos, out, kill_at, mode = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
real_fsync, calls = os.fsync, [0]

def fsync(fd):  # the process dies at its kill_at-th fsync: the moment a crash is most likely to hurt
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_fsync(fd)

os.fsync = fsync
found = sources(scan(photos).photos)
export([ExportRow(p, "color", i % 2, ["red", "blue"][i % 2], 0.9) for i, p in enumerate(found)], out, mode=mode)
"""


@needs_exiftool
@pytest.mark.parametrize("mode", ["tags", "tags-embedded"])
@pytest.mark.parametrize("kill_at", range(1, 10))  # every fsync of 4 photos, then a finished run
def test_a_tag_export_killed_at_any_step_is_undone_without_a_partial_file_or_a_keyword_of_ours(tmp_path, mode,
                                                                                              kill_at):
    photos = make_folder(tmp_path / "photos")
    (photos / "IMG_0000.JPG.xmp").write_bytes(USER_SIDECAR)
    before = hashes(photos)
    pixels = {p.name: np.asarray(Image.open(p)).tobytes() for p in photos.iterdir() if p.suffix != ".xmp"}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(photos), str(out), str(kill_at), mode],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    if (out / ".esmc" / "tags-journal.jsonl").is_file():
        undo_export(out)
    assert not list(photos.glob(".*")), "no temporary file is left behind"
    after = hashes(photos)
    assert after.get("IMG_0000.JPG.xmp") == before["IMG_0000.JPG.xmp"]
    assert sorted(after) == sorted(before), "the sidecars the export made are gone"
    for name, data in pixels.items():
        assert np.asarray(Image.open(photos / name)).tobytes() == data
        assert not {"HierarchicalSubject", "TagsList"} & set(exiftool(photos / name))
    if mode == "tags":
        assert after == before


@needs_exiftool
def test_embedded_keywords_go_into_jpegs_keep_their_pixels_and_exif_and_other_formats_get_a_sidecar(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    jpeg = photos / "IMG_0000.JPG"
    exif = Image.Exif()
    exif[0x0110] = "ESMC Test Camera"  # Model
    Image.fromarray(sample_image(0)).save(jpeg, exif=exif, quality=90)
    Image.fromarray(sample_image(1)).save(photos / "IMG_0001.png")
    pixels = np.asarray(Image.open(jpeg)).copy()
    png_bytes = (photos / "IMG_0001.png").read_bytes()
    found = sources(scan(photos).photos)
    rows = export(colour_and_shape(found), tmp_path / "out", mode="tags-embedded")

    assert {Path(r.destination).name for r in rows} == {"IMG_0000.JPG", "IMG_0001.png.xmp"}
    tags = exiftool(jpeg)
    assert tags["Subject"] == ["red", "round"] and tags["TagsList"][0] == "ESMC/color of the car/red"
    assert np.array_equal(np.asarray(Image.open(jpeg)), pixels)
    assert Image.open(jpeg).getexif()[0x0110] == "ESMC Test Camera"
    assert (photos / "IMG_0001.png").read_bytes() == png_bytes and not (photos / "IMG_0000.JPG.xmp").exists()

    undo_export(tmp_path / "out")
    assert not {"Subject", "HierarchicalSubject", "TagsList"} & set(exiftool(jpeg))
    assert np.array_equal(np.asarray(Image.open(jpeg)), pixels)
    assert not (photos / "IMG_0001.png.xmp").exists()


def test_a_dry_run_says_where_keywords_would_go_and_writes_nothing(tmp_path):
    photos = make_folder(tmp_path / "photos")
    before = hashes(photos)
    found = sources(scan(photos).photos)
    rows = export(colour_and_shape(found), tmp_path / "out", mode="tags", dry_run=True)
    assert {Path(r.destination).name for r in rows} == {f"{p.path.name}.xmp" for p in found}
    assert hashes(photos) == before and not (tmp_path / "out").exists()


def test_learn_refuses_a_tag_export_and_leaves_the_photos_and_sidecars_alone(tmp_path):
    from esmc_desktop.app.learn import learn_export
    from esmc_desktop.errors import EsmcError

    photos = make_folder(tmp_path / "photos")
    found = sources(scan(photos).photos)
    export(colour_and_shape(found), tmp_path / "out", mode="tags")
    before = hashes(photos)
    with pytest.raises(EsmcError, match="holds a tag export"):
        learn_export(tmp_path / "out")
    assert hashes(photos) == before, "no sidecar or photo moved"


def test_undo_with_nothing_exported_says_so(tmp_path):
    with pytest.raises(ExportError, match="nothing to undo"):
        undo_export(tmp_path)


@needs_exiftool
def test_cluster_in_mode_tags_writes_each_criterion_s_keywords_and_a_killed_run_is_undone(tmp_path, tiny):
    from tests.test_pipeline import make_photos, model_args

    photos = make_photos(tmp_path / "photos", 60, size=400, fmt="jpg")
    before = {p: content_hash(p) for p in photos.rglob("*.jpg")}
    command = [sys.executable, "-m", "esmc_desktop.cli", "cluster", str(photos), "--criterion",
               "color of the object:2", "--keywords", "color of the object=red,green", "--criterion",
               "shape of the object:2", "--cache", str(tmp_path / "cache"), "--mode", "tags", "--quiet",
               *model_args(tiny)]
    killed = subprocess.Popen([*command, "--out", str(tmp_path / "killed")], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    journal = tmp_path / "killed" / ".esmc" / "tags-journal.jsonl"
    deadline = time.time() + 300
    while killed.poll() is None and time.time() < deadline and (
            not journal.is_file() or journal.read_text().count("\n") < 20):
        time.sleep(0.001)
    killed.kill()
    killed.wait()
    assert journal.is_file(), killed.stderr.read().decode()
    assert subprocess.run([sys.executable, "-m", "esmc_desktop.cli", "undo", str(tmp_path / "killed")], cwd=REPO,
                          capture_output=True).returncode == 0
    assert not [p for p in photos.rglob("*") if p.is_file() and p.suffix != ".jpg"], "no sidecar or temp file left"

    done = subprocess.run([*command, "--out", str(tmp_path / "out"), "--json"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {p: content_hash(p) for p in photos.rglob("*.jpg")} == before
    names = {c["criterion"]: {cl["name"] for cl in c["clusters"]} for c in summary["criteria"]}
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())
    read = exiftool_all(sorted({Path(r["destination"]) for r in rows}))
    for row in rows:
        assert row["cluster_name"] in names[row["criterion"]]
        tags = read[row["destination"]]
        expected = keywords_for([(row["criterion"], row["cluster_name"])])  # names with '|' or '/' get '-'
        assert expected[SUBJECT][0] in as_list(tags["Subject"])
        assert expected[HIERARCHICAL][0] in as_list(tags["HierarchicalSubject"])
        assert expected[TAGS_LIST][0] in as_list(tags["TagsList"])
    assert len(list(photos.rglob("*.jpg.xmp"))) == 60
