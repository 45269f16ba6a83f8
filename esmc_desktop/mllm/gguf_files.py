"""Read and check GGUF model files before llama.cpp sees them.

llama.cpp aborts or prints to stderr on a bad file; a desktop user needs a
sentence instead. Everything here reads metadata with gguf-py, so a missing,
truncated, foreign or mismatched file is caught with a clear ModelFileError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from esmc_desktop.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
_FINGERPRINT_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class GgufInfo:
    """What one GGUF file is, from its metadata and tensor table."""

    path: Path
    architecture: str
    name: str
    file_type: str
    tensor_types: dict[str, int]
    n_tensors: int
    fields: dict[str, object]

    @property
    def is_mmproj(self) -> bool:
        return self.architecture == "clip"

    def get(self, key: str, default: object = None) -> object:
        return self.fields.get(key, default)


def _field_value(field: gguf.ReaderField) -> object:
    if not field.types:
        return None
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        if len(field.data) > 64:  # vocabularies: keep only the size
            return len(field.data)
        return [field.contents(i) for i in range(len(field.data))]
    return field.contents()


def open_reader(path: Path | str) -> gguf.GGUFReader:
    """A GGUFReader over `path`, or a ModelFileError that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    size = path.stat().st_size
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path.name} is not a GGUF model file (it starts with {magic!r}, not b'GGUF')")
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf-py raises ValueError/IndexError/struct errors on damage
        raise ModelFileError(f"{path.name} is damaged or truncated: {exc}") from exc
    for tensor in reader.tensors:
        if tensor.data_offset + tensor.n_bytes > size:
            raise ModelFileError(
                f"{path.name} is truncated: tensor {tensor.name} ends at byte "
                f"{tensor.data_offset + tensor.n_bytes}, the file has {size}. Download or convert it again."
            )
    return reader


def read_info(path: Path | str) -> GgufInfo:
    reader = open_reader(path)
    fields = {name: _field_value(field) for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    arch = str(fields.get("general.architecture", "?"))
    types = {t.name: int(t.tensor_type) for t in reader.tensors}
    ftype = fields.get("general.file_type")
    try:
        ftype_name = gguf.LlamaFileType(int(ftype)).name.removeprefix("MOSTLY_") if ftype is not None else "?"
    except ValueError:
        ftype_name = str(ftype)
    return GgufInfo(Path(path), arch, str(fields.get("general.name", "")), ftype_name, types, len(types), fields)


def require_lm(info: GgufInfo) -> None:
    if info.is_mmproj:
        raise ModelFileError(f"{info.path.name} is a vision projector (mmproj), not a language model")
    if info.architecture != "llama":
        raise ModelFileError(
            f"{info.path.name} is a '{info.architecture}' model; ESMC Desktop runs LLaVA-1.5 (llama architecture)")
    if "output.weight" not in info.tensor_types and "token_embd.weight" not in info.tensor_types:
        raise ModelFileError(f"{info.path.name} has no output or embedding matrix")


def require_mmproj(info: GgufInfo) -> None:
    if not info.is_mmproj:
        raise ModelFileError(f"{info.path.name} is a language model, not a vision projector (mmproj)")
    if not info.get("clip.has_vision_encoder", False):
        raise ModelFileError(f"{info.path.name} has no vision encoder")
    projector = info.get("clip.projector_type", "mlp")
    if projector != "mlp":
        raise ModelFileError(f"{info.path.name} has projector type '{projector}'; LLaVA-1.5 uses 'mlp'")


def lm_width(info: GgufInfo) -> int:
    return int(info.get("llama.embedding_length", 0))


def mmproj_output_width(info: GgufInfo) -> int:
    return int(info.get("clip.vision.projection_dim", 0))


def check_pair(lm_path: Path | str, mmproj_path: Path | str, *,
               allow_legacy: bool = False) -> tuple[GgufInfo, GgufInfo]:
    """Both files readable, of the right kinds, not a legacy mmproj, and the projector feeds the LM's width."""
    from esmc_desktop.mllm.legacy_mmproj import is_legacy, legacy_advice

    lm, mmproj = read_info(lm_path), read_info(mmproj_path)
    require_lm(lm)
    require_mmproj(mmproj)
    if is_legacy(mmproj) and not allow_legacy:
        raise ModelFileError(legacy_advice(mmproj.path))
    if mmproj_output_width(mmproj) != lm_width(lm):
        raise ModelFileError(
            f"{mmproj.path.name} projects images to width {mmproj_output_width(mmproj)}, but "
            f"{lm.path.name} has embedding width {lm_width(lm)}: these files are not a pair"
        )
    return lm, mmproj


def fingerprint(*paths: Path | str) -> str:
    """A short id of model files: metadata, tensor table and a sample of each tensor's bytes.

    Cheap on a 4 GB file (a few hundred small reads) yet different for two
    fine-tunes of one architecture, which share all metadata.
    """
    digest = hashlib.sha256()
    for path in paths:
        reader = open_reader(path)
        for name, field in sorted(reader.fields.items()):
            digest.update(name.encode())
            for part in field.data:
                digest.update(np.asarray(field.parts[part]).tobytes())
        for tensor in reader.tensors:
            digest.update(tensor.name.encode())
            digest.update(np.asarray(tensor.shape).tobytes())
            digest.update(int(tensor.tensor_type).to_bytes(4, "little"))
            digest.update(np.asarray(tensor.data).reshape(-1).view(np.uint8)[:_FINGERPRINT_SAMPLE].tobytes())
    return digest.hexdigest()[:16]
