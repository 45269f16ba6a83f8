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

# Metadata names, spelled by gguf-py (gguf.Keys) so they follow llama.cpp's own spelling.
LM_ARCH = "llama"  # LLaVA-1.5's language model
ARCHITECTURE, NAME, FILE_TYPE = gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.NAME, gguf.Keys.General.FILE_TYPE
LM_BLOCK_COUNT = gguf.Keys.LLM.BLOCK_COUNT.format(arch=LM_ARCH)
LM_EMBEDDING_LENGTH = gguf.Keys.LLM.EMBEDDING_LENGTH.format(arch=LM_ARCH)
LM_CONTEXT_LENGTH = gguf.Keys.LLM.CONTEXT_LENGTH.format(arch=LM_ARCH)
LM_HEAD_COUNT = gguf.Keys.Attention.HEAD_COUNT.format(arch=LM_ARCH)
LM_RMS_EPS = gguf.Keys.Attention.LAYERNORM_RMS_EPS.format(arch=LM_ARCH)
TOKENS = gguf.Keys.Tokenizer.LIST
PROJECTOR_TYPE, HAS_VISION_ENCODER = gguf.Keys.Clip.PROJECTOR_TYPE, gguf.Keys.Clip.HAS_VISION_ENCODER
LEGACY_MARK = gguf.Keys.Clip.HAS_LLAVA_PROJECTOR  # written only by llama.cpp's legacy LLaVA converter
VISION_BLOCK_COUNT, VISION_EMBEDDING_LENGTH = gguf.Keys.ClipVision.BLOCK_COUNT, gguf.Keys.ClipVision.EMBEDDING_LENGTH
IMAGE_SIZE, PATCH_SIZE = gguf.Keys.ClipVision.IMAGE_SIZE, gguf.Keys.ClipVision.PATCH_SIZE
PROJECTION_DIM = gguf.Keys.ClipVision.PROJECTION_DIM
FEATURE_LAYER = "clip.vision.feature_layer"  # read by llama.cpp's clip loader; gguf-py 0.19 has no name for it
# LLaVA-1.5's projector: linear, GELU, linear. llama.cpp's clip loader takes each as optional (Yi-type LLaVA
# has no mm.2) and crashes (a null pointer) when one is missing, so their presence is checked here.
LLAVA_PROJECTOR_TENSORS = tuple(f"{gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.V_MMPROJ].format(bid=layer)}.{part}"
                                for layer in (0, 2) for part in ("weight", "bias"))


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
    return _info(Path(path), open_reader(path))


def _info(path: Path, reader: gguf.GGUFReader) -> GgufInfo:
    fields = {name: _field_value(field) for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    arch = str(fields.get(ARCHITECTURE, "?"))
    types = {t.name: int(t.tensor_type) for t in reader.tensors}
    ftype = fields.get(FILE_TYPE)
    try:
        ftype_name = gguf.LlamaFileType(int(ftype)).name.removeprefix("MOSTLY_") if ftype is not None else "?"
    except ValueError:
        ftype_name = str(ftype)
    return GgufInfo(path, arch, str(fields.get(NAME, "")), ftype_name, types, len(types), fields)


class GgufFile:
    """One GGUF file whose header is read once: its reader, its info and its fingerprint, each on first use.

    A model session (engine/session.py) holds one per file, so the checks, the GPU plan, the lens, the
    runtime and the cache keys all read the same parse instead of opening the file again.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reader: gguf.GGUFReader | None = None
        self._info: GgufInfo | None = None
        self._fingerprint: str | None = None

    @property
    def reader(self) -> gguf.GGUFReader:
        if self._reader is None:
            self._reader = open_reader(self.path)
        return self._reader

    @property
    def info(self) -> GgufInfo:
        if self._info is None:
            self._info = _info(self.path, self.reader)
        return self._info

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_of(self.reader)
        return self._fingerprint


def require_lm(info: GgufInfo) -> None:
    if info.is_mmproj:
        raise ModelFileError(f"{info.path.name} is a vision projector (mmproj), not a language model")
    if info.architecture != LM_ARCH:
        raise ModelFileError(
            f"{info.path.name} is a '{info.architecture}' model; ESMC Desktop runs LLaVA-1.5 (llama architecture)")
    if "output.weight" not in info.tensor_types and "token_embd.weight" not in info.tensor_types:
        raise ModelFileError(f"{info.path.name} has no output or embedding matrix")


def require_mmproj(info: GgufInfo) -> None:
    if not info.is_mmproj:
        raise ModelFileError(f"{info.path.name} is a language model, not a vision projector (mmproj)")
    if not info.get(HAS_VISION_ENCODER, False):
        raise ModelFileError(f"{info.path.name} has no vision encoder")
    projector = info.get(PROJECTOR_TYPE, "mlp")
    if projector != "mlp":
        raise ModelFileError(f"{info.path.name} has projector type '{projector}'; LLaVA-1.5 uses 'mlp'")
    missing = [name for name in LLAVA_PROJECTOR_TENSORS if name not in info.tensor_types]
    if missing:
        raise ModelFileError(f"{info.path.name} lacks the projector tensor{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}: it is damaged or not a LLaVA-1.5 projector. Download or "
                             f"convert it again")


def lm_width(info: GgufInfo) -> int:
    return int(info.get(LM_EMBEDDING_LENGTH, 0))


def mmproj_output_width(info: GgufInfo) -> int:
    return int(info.get(PROJECTION_DIM, 0))


def image_tokens(info: GgufInfo) -> int:
    """How many tokens one image becomes in the LM (LLaVA-1.5's mlp projector: one per patch, 576 for 336/14)."""
    size, patch = int(info.get(IMAGE_SIZE, 0) or 0), int(info.get(PATCH_SIZE, 0) or 0)
    return (size // patch) ** 2 if size and patch else 0


def is_legacy(info: GgufInfo) -> bool:
    """A legacy LLaVA-1.5 mmproj: one CLIP block short in the llama.cpp we pin (see legacy_mmproj)."""
    return (info.is_mmproj and bool(info.get(LEGACY_MARK, False))
            and info.get(FEATURE_LAYER) is None
            and info.get(PROJECTOR_TYPE, "mlp") == "mlp")


def legacy_advice(path: Path | str) -> str:
    return (f"{Path(path).name} is a legacy LLaVA-1.5 mmproj (written by llama.cpp's old converter): the "
            f"llama.cpp ESMC Desktop runs would use one CLIP layer too few and see images differently "
            f"from LLaVA. Make a repaired copy with: esmc-desktop models repair-mmproj "
            f"{Path(path)} {Path(path).with_name(Path(path).stem + '-repaired.gguf')}")


def image_size(info: GgufInfo) -> int:
    """The side in pixels the vision encoder takes (336 for LLaVA-1.5's CLIP ViT-L/14-336)."""
    return int(info.get(IMAGE_SIZE, 0) or 0)


def check_pair(lm_path: Path | str, mmproj_path: Path | str, *,
               allow_legacy: bool = False) -> tuple[GgufInfo, GgufInfo]:
    """Both files readable, of the right kinds, not a legacy mmproj, and the projector feeds the LM's width."""
    lm, mmproj = read_info(lm_path), read_info(mmproj_path)
    check_infos(lm, mmproj, allow_legacy=allow_legacy)
    return lm, mmproj


def check_infos(lm: GgufInfo, mmproj: GgufInfo, *, allow_legacy: bool = False) -> None:
    """check_pair on headers already read."""
    require_lm(lm)
    require_mmproj(mmproj)
    if is_legacy(mmproj) and not allow_legacy:
        raise ModelFileError(legacy_advice(mmproj.path))
    if mmproj_output_width(mmproj) != lm_width(lm):
        raise ModelFileError(
            f"{mmproj.path.name} projects images to width {mmproj_output_width(mmproj)}, but "
            f"{lm.path.name} has embedding width {lm_width(lm)}: these files are not a pair"
        )


def fingerprint(*paths: Path | str) -> str:
    """A short id of model files: metadata, tensor table and a sample of each tensor's bytes.

    Cheap on a 4 GB file (a few hundred small reads) yet different for two
    fine-tunes of one architecture, which share all metadata.
    """
    return fingerprint_of(*(open_reader(path) for path in paths))


def fingerprint_of(*readers: gguf.GGUFReader) -> str:
    """`fingerprint` of files already open (GgufFile keeps its reader)."""
    digest = hashlib.sha256()
    for reader in readers:
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
