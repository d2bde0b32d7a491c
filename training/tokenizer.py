"""Tokenizers: load `tokenizer.json` from a local folder; train a small byte-level BPE for the demo.

BOS/EOS follow the DeepSeek tokenizer: a text starts with the begin-of-sentence token (DeepSeek's
`add_bos_token: true`; our BPE adds it through its post-processor, so transformers and vLLM prompts get
it too) and a document or assistant turn ends with the end-of-sentence token, which training appends.
`Tokenizer.encode` adds neither: the training data code places them itself.

The wrapper exposes what megatron-core's GPT dataset asks of a tokenizer (`vocab_size`, `eod`, and
no pad id, so megatron uses its own sentinel) and what the HF export needs (`bos_id`, `eos_id`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mathforge.io import atomic_write_text

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"


class Tokenizer:
    """A `tokenizers.Tokenizer` plus the special ids the training data and the export need."""

    def __init__(self, inner, bos_token: str | None, eos_token: str):
        self.inner = inner
        self.bos_token, self.eos_token = bos_token, eos_token
        eos = inner.token_to_id(eos_token)
        if eos is None:
            raise ValueError(f"tokenizer has no end-of-text token {eos_token!r}")
        self.eos_id = eos
        self.bos_id = inner.token_to_id(bos_token) if bos_token else None

    @property
    def vocab_size(self) -> int:
        return self.inner.get_vocab_size(with_added_tokens=True)

    @property
    def eod(self) -> int:
        return self.eos_id

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.inner.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids)


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """Read `folder/tokenizer.json` (+ tokenizer_config.json for the bos/eos names, when present)."""
    from tokenizers import Tokenizer as HFTokenizer

    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no tokenizer.json")
    inner = HFTokenizer.from_file(str(path))
    bos, eos = BOS, EOS
    config_path = folder / "tokenizer_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        bos, eos = _token_text(config.get("bos_token")) or bos, _token_text(config.get("eos_token")) or eos
    if inner.token_to_id(bos) is None:
        bos = None
    return Tokenizer(inner, bos, eos)


def _token_text(value) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def train_bpe(texts: Iterable[str], vocab_size: int, folder: str | Path, split_digits: bool = True) -> Tokenizer:
    """Train a byte-level BPE on `texts` and save it as a transformers-loadable tokenizer folder.

    `split_digits`: every digit is its own token (DeepSeek's tokenizer splits numbers into digits), so
    a number is spelled digit by digit: what lets a small model learn to copy and compute numbers."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    inner = HFTokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                           if split_digits else byte_level)
    inner.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    inner.train_from_iterator(texts, trainer=trainer)
    inner.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, inner.token_to_id(BOS))])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "tokenizer.json", inner.to_str())
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 1 << 20,
    }
    atomic_write_text(folder / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
    atomic_write_text(folder / "special_tokens_map.json", json.dumps({"bos_token": BOS, "eos_token": EOS}) + "\n")
    return load_tokenizer(folder)
