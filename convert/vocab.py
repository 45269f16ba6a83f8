"""The Llama/Vicuna sentencepiece vocabulary of a llava-hf checkpoint, as GGUF wants it.

llama.cpp tokenizes with the vocabulary stored in the GGUF, so every piece,
score and token type must come across, plus the tokens llava-hf adds after the
sentencepiece ones (`<image>`, `<pad>`), padded up to the embedding's row count
(LLaVA-1.5 pads 32002 tokens to 32064 rows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import gguf

from convert.checkpoint import CheckpointError


@dataclass
class Vocab:
    tokens: list[bytes]
    scores: list[float]
    types: list[int]
    special_ids: dict[str, int] = field(default_factory=dict)
    add_bos: bool = True
    add_eos: bool = False
    chat_template: str | None = None

    def add_to(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(self.tokens)
        writer.add_token_scores(self.scores)
        writer.add_token_types(self.types)
        setters = {
            "bos": writer.add_bos_token_id,
            "eos": writer.add_eos_token_id,
            "unk": writer.add_unk_token_id,
            "pad": writer.add_pad_token_id,
        }
        for kind, token_id in self.special_ids.items():
            setters[kind](token_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)


def _piece_type(sp, i: int) -> int:
    if sp.is_unknown(i):
        return gguf.TokenType.UNKNOWN
    if sp.is_control(i):
        return gguf.TokenType.CONTROL
    if sp.is_unused(i):
        return gguf.TokenType.UNUSED
    if sp.is_byte(i):
        return gguf.TokenType.BYTE
    return gguf.TokenType.NORMAL


def _added_tokens(directory: Path, tok_config: dict) -> dict[int, tuple[str, bool]]:
    added: dict[int, tuple[str, bool]] = {}
    added_file = directory / "added_tokens.json"
    if added_file.is_file():
        for content, token_id in json.loads(added_file.read_text()).items():
            added[int(token_id)] = (content, False)
    for token_id, data in (tok_config.get("added_tokens_decoder") or {}).items():
        added[int(token_id)] = (data["content"], bool(data.get("special")))
    return added


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def load_vocab(directory: Path, n_rows: int) -> Vocab:
    """Read tokenizer.model and the added tokens; pad to `n_rows` entries."""
    import sentencepiece as spm

    model_file = directory / "tokenizer.model"
    if not model_file.is_file():
        raise CheckpointError(f"{directory} has no tokenizer.model (the sentencepiece vocabulary)")
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    tokens = [sp.id_to_piece(i).encode("utf-8") for i in range(sp.get_piece_size())]
    scores = [sp.get_score(i) for i in range(sp.get_piece_size())]
    types = [_piece_type(sp, i) for i in range(sp.get_piece_size())]

    config_file = directory / "tokenizer_config.json"
    tok_config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    for token_id, (content, special) in sorted(_added_tokens(directory, tok_config).items()):
        kind = gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED
        if token_id < len(tokens):
            tokens[token_id], types[token_id] = content.encode("utf-8"), kind
            continue
        while len(tokens) < token_id:
            _append_pad(tokens, scores, types)
        tokens.append(content.encode("utf-8"))
        scores.append(-1000.0)
        types.append(kind)
    if len(tokens) > n_rows:
        raise CheckpointError(f"the tokenizer has {len(tokens)} tokens but the embedding only {n_rows} rows")
    while len(tokens) < n_rows:
        _append_pad(tokens, scores, types)

    index = {t: i for i, t in enumerate(tokens)}
    special_ids: dict[str, int] = {}
    for kind in ("bos", "eos", "unk", "pad"):
        text = _token_text(tok_config.get(f"{kind}_token"))
        if text is not None and text.encode("utf-8") in index:
            special_ids[kind] = index[text.encode("utf-8")]
    for kind, fallback in (("bos", sp.bos_id()), ("eos", sp.eos_id()), ("unk", sp.unk_id())):
        if kind not in special_ids and fallback >= 0:
            special_ids[kind] = fallback

    template = tok_config.get("chat_template")
    template_file = directory / "chat_template.json"
    if template is None and template_file.is_file():
        template = json.loads(template_file.read_text()).get("chat_template")
    return Vocab(
        tokens=tokens,
        scores=scores,
        types=[int(t) for t in types],
        special_ids=special_ids,
        add_bos=bool(tok_config.get("add_bos_token", True)),
        add_eos=bool(tok_config.get("add_eos_token", False)),
        chat_template=template,
    )


def _append_pad(tokens: list[bytes], scores: list[float], types: list[int]) -> None:
    tokens.append(f"[PAD{len(tokens)}]".encode("utf-8"))
    scores.append(-1000.0)
    types.append(gguf.TokenType.UNUSED)
