"""The LLaVA-1.5 GGUF pairs `models pull` knows: where each lives on the Hugging Face Hub.

Only LLaVA-1.5 (the model the ESMC method was published on), in published GGUF
conversions whose LM and mmproj come from the same repository. Every published
LLaVA-1.5 mmproj is a legacy one (one CLIP block short in the llama.cpp we pin);
`pull` repairs it into a new file. Sizes are not kept here: `pull` asks the hub
for them (and for each file's SHA-256) before it downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from esmc_desktop.errors import EsmcError

DEFAULT_MODEL = "llava-1.5-7b"
DEFAULT_QUANT = "Q4_K_M"  # 4-bit: the quality/size point llama.cpp recommends; the 7B fits 8 GB of (V)RAM


@dataclass(frozen=True)
class CatalogModel:
    name: str
    repo_id: str
    lm_files: dict[str, str]  # quantization -> file name in the repository
    mmproj_file: str
    about: str
    revision: str = "main"

    def lm_file(self, quant: str) -> str:
        try:
            return self.lm_files[quant]
        except KeyError:
            raise EsmcError(f"{self.name} comes in {', '.join(self.lm_files)}, not {quant!r}") from None


_SECOND_STATE_7B = "llava-v1.5-7b-{}.gguf"
CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="llava-1.5-7b",
        repo_id="second-state/Llava-v1.5-7B-GGUF",
        lm_files={q: _SECOND_STATE_7B.format(q) for q in (
            "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_K_S", "Q5_K_M",
            "Q6_K", "Q8_0")},
        mmproj_file="llava-v1.5-7b-mmproj-model-f16.gguf",
        about="LLaVA-1.5 7B, the model of the ESMC paper (Q4_K_M: 4.08 GB + 0.62 GB projector)",
    ),
    CatalogModel(
        name="llava-1.5-13b",
        repo_id="mys/ggml_llava-v1.5-13b",
        # llama.cpp's quantizer named its Q4_K_M/Q5_K_M presets q4_k/q5_k when these were made.
        lm_files={"Q4_K_M": "ggml-model-q4_k.gguf", "Q5_K_M": "ggml-model-q5_k.gguf", "F16": "ggml-model-f16.gguf"},
        mmproj_file="mmproj-model-f16.gguf",
        about="LLaVA-1.5 13B (Q4_K_M: 7.87 GB + 0.65 GB projector)",
    ),
)


def find_model(name: str) -> CatalogModel:
    """The catalogue entry called `name`, or an error listing the names there are."""
    for model in CATALOG:
        if model.name == name.strip().lower():
            return model
    raise EsmcError(f"no model called {name!r} to pull; known: {', '.join(m.name for m in CATALOG)} "
                    f"(or add files you have with `esmc-desktop models add NAME LM.gguf MMPROJ.gguf`)")
