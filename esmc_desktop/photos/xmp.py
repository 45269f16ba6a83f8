"""Keywords in XMP, read and written by libexiv2 (python-exiv2), in a sidecar or inside a JPEG.

Photo tools read keywords from three XMP fields, so each keyword goes into all three:
`dc:subject` (flat: Lightroom, darktable, digiKam, Immich, PhotoPrism), `lr:hierarchicalSubject`
("ESMC|criterion|cluster": Lightroom, darktable, digiKam) and `digiKam:TagsList`
("ESMC/criterion/cluster": digiKam and Immich, which both split that field at "/").

Everything happens on bytes in memory: the caller decides how the result reaches the disk.
Exiv2 re-serialises the whole XMP packet when it writes, so every property survives with its
value, but not its original layout (property order, whitespace, padding).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator, Mapping

from esmc_desktop.errors import XmpError

ROOT = "ESMC"
SUBJECT = "Xmp.dc.subject"
HIERARCHICAL = "Xmp.lr.hierarchicalSubject"
TAGS_LIST = "Xmp.digiKam.TagsList"
FIELDS = (SUBJECT, HIERARCHICAL, TAGS_LIST)
Keywords = Mapping[str, list[str]]  # XMP key -> keywords, for the keys in FIELDS


def _part(text: str) -> str:
    """A keyword or one level of a keyword path: the path separators of both hierarchical fields replaced."""
    return " ".join(text.replace("|", "-").replace("/", "-").split())


def keywords_for(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The keywords of (criterion, cluster name) pairs, per XMP field."""
    out: dict[str, list[str]] = {key: [] for key in FIELDS}
    for criterion, name in pairs:
        crit, cluster = _part(criterion), _part(name)
        for key, value in ((SUBJECT, cluster), (HIERARCHICAL, f"{ROOT}|{crit}|{cluster}"),
                           (TAGS_LIST, f"{ROOT}/{crit}/{cluster}")):
            if value not in out[key]:
                out[key].append(value)
    return out


@contextlib.contextmanager
def _exiv2_errors(name: str) -> Iterator[None]:
    """Turn exiv2's logged errors (it logs, rather than raises, when an XMP packet does not parse) into XmpError."""
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    logger = logging.getLogger("exiv2")
    handler = Collect()
    logger.addHandler(handler)
    try:
        yield
    except Exception as exc:  # exiv2.Exiv2Error, or a SWIG type error on odd values
        raise XmpError(f"{name}: exiv2 cannot read its metadata ({exc}); it was left as it is") from exc
    finally:
        logger.removeHandler(handler)
    if errors:
        raise XmpError(f"{name}: exiv2 cannot read its metadata ({errors[0]}); it was left as it is")


def _open(data: bytes | None, name: str):
    import exiv2  # on first use: its import takes ~140 ms that runs without a tag export need not pay

    with _exiv2_errors(name):
        if data is None:
            return exiv2.ImageFactory.create(exiv2.ImageType.xmp)
        image = exiv2.ImageFactory.open(data)
        image.readMetadata()
        return image


def _items(xmp, key: str) -> list[str]:
    import exiv2

    if key not in xmp:
        return []
    value = xmp[key].getValue()
    if isinstance(value, exiv2.XmpArrayValue):
        return list(value)
    text = value.toString()
    return [text] if text else []


def _set(xmp, key: str, items: list[str]) -> None:
    import exiv2

    if key in xmp:
        del xmp[key]
    if items:
        value = exiv2.XmpArrayValue(exiv2.TypeId.xmpSeq if key == TAGS_LIST else exiv2.TypeId.xmpBag)
        for item in items:
            value.append(item)
        xmp[key] = value


def _rewrite(data: bytes | None, name: str, change) -> tuple[bytes, dict[str, list[str]]]:
    import exiv2

    image = _open(data, name)
    with _exiv2_errors(name):
        xmp = image.xmpData()
        changed = change(xmp)
        if not any(changed.values()):
            return (data if data is not None else b""), changed
        if image.imageType() == exiv2.ImageType.xmp:
            # A sidecar's XMP is all there is; exiv2 derives IPTC and Exif from it on reading and writes them
            # back into the XMP on writing, which would restore the dc:subject keywords just removed.
            image.iptcData().clear()
            image.exifData().clear()
        image.writeMetadata()
        io = image.io()
        return bytes(io.data()), changed


def add_keywords(data: bytes | None, keywords: Keywords, name: str = "sidecar") -> tuple[bytes, dict[str, list[str]]]:
    """(new bytes, keywords added): `data` (an XMP sidecar or a JPEG; None for a new sidecar) with `keywords`.

    Keywords already there are neither repeated nor reported as added, so removing what was
    added later leaves the keywords that were there before.
    """
    def change(xmp) -> dict[str, list[str]]:
        added: dict[str, list[str]] = {}
        for key in FIELDS:
            items = _items(xmp, key)
            added[key] = [k for k in keywords.get(key, []) if k not in items]
            if added[key]:
                _set(xmp, key, items + added[key])
        return added

    return _rewrite(data, name, change)


def remove_keywords(data: bytes, keywords: Keywords, name: str = "sidecar") -> tuple[bytes, dict[str, list[str]]]:
    """(new bytes, keywords removed): `data` without `keywords`; every other value stays."""
    def change(xmp) -> dict[str, list[str]]:
        removed: dict[str, list[str]] = {}
        for key in FIELDS:
            items = _items(xmp, key)
            removed[key] = [k for k in keywords.get(key, []) if k in items]
            if removed[key]:
                _set(xmp, key, [k for k in items if k not in removed[key]])
        return removed

    return _rewrite(data, name, change)


def read_keywords(data: bytes, name: str = "sidecar") -> dict[str, list[str]]:
    """The keywords in each of FIELDS."""
    image = _open(data, name)
    with _exiv2_errors(name):
        xmp = image.xmpData()
        return {key: _items(xmp, key) for key in FIELDS}
