"""Copy a GGUF file with edits (metadata set or dropped, tensors dropped or added), streaming.

Used to repair legacy mmproj files. The source is never modified; the copy is
written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import gguf
import numpy as np

from esmc_desktop.errors import OutputExistsError
from esmc_desktop.files import atomic_path
from esmc_desktop.mllm.gguf_files import ARCHITECTURE, open_reader

KEEP_OUT = ("GGUF.", ARCHITECTURE)


def _field(field: gguf.ReaderField) -> tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]:
    vtype = field.types[0]
    sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    return field.contents(), vtype, sub


def rewrite_gguf(
    src: Path | str,
    dst: Path | str,
    *,
    set_fields: Mapping[str, tuple[object, gguf.GGUFValueType]] = {},
    drop_fields: tuple[str, ...] = (),
    drop_tensors: tuple[str, ...] = (),
    add_tensors: Mapping[str, tuple[np.ndarray, gguf.GGMLQuantizationType]] = {},
) -> None:
    """Write `dst`: `src` with the given edits. Refuses to write over `src` or an existing `dst`."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise OutputExistsError(f"{dst} already exists; choose another output path (it is never replaced)")
    if dst.resolve() == src.resolve():
        raise OutputExistsError("the output must be a new file, not the input")
    reader = open_reader(src)
    arch = reader.get_field(ARCHITECTURE).contents()
    tensors = [(t.name, t.data, t.tensor_type) for t in reader.tensors if t.name not in drop_tensors]
    tensors += [(name, data, qtype) for name, (data, qtype) in add_tensors.items()]
    with atomic_path(dst, overwrite=False) as tmp:
        writer = gguf.GGUFWriter(tmp, arch=arch)
        try:
            for name, field in reader.fields.items():
                if name.startswith(KEEP_OUT) or name in drop_fields or name in set_fields:
                    continue
                value, vtype, sub = _field(field)
                writer.add_key_value(name, value, vtype, sub_type=sub)
            for name, (value, vtype) in set_fields.items():
                writer.add_key_value(name, value, vtype)
            for name, data, qtype in tensors:
                writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, qtype)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for _, data, _ in tensors:
                writer.write_tensor_data(np.ascontiguousarray(data))
        finally:
            writer.close()
