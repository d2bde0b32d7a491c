"""A conversation -> token ids and the tokens the loss counts, in the DeepSeek tokenizer's framing:
BOS, the chat text (`evaluation.chat_template`), EOS after each assistant turn.

Why token offsets and not per-segment encoding: evaluation and GRPO tokenize the whole text at once,
so training does too; a token is trainable when its first character lies in a trainable segment
(`chat_segments`): assistant text, not prompts, not ```output bodies. The EOS that closes an
assistant turn is trainable (the model must learn to stop); BOS never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.chat_template import chat_segments


@dataclass(frozen=True)
class EncodedSample:
    tokens: np.ndarray  # int64 [n]
    trainable: np.ndarray  # bool [n]: token i is a target the loss counts (as the label of position i-1)

    def __len__(self) -> int:
        return len(self.tokens)


def encode_conversation(messages: Sequence[dict[str, str]], tokenizer) -> EncodedSample:
    """`tokenizer` is a `training.tokenizer.Tokenizer` (its `inner` gives the character offsets)."""
    ids: list[int] = [] if tokenizer.bos_id is None else [tokenizer.bos_id]
    trainable: list[bool] = [False] * len(ids)
    chunk: list = []
    for segment in chat_segments(messages):
        chunk.append(segment)
        if segment.ends_turn:
            _encode_chunk(chunk, tokenizer, ids, trainable)
            ids.append(tokenizer.eos_id)
            trainable.append(True)
            chunk = []
    if chunk:
        _encode_chunk(chunk, tokenizer, ids, trainable)
    return EncodedSample(np.asarray(ids, dtype=np.int64), np.asarray(trainable, dtype=bool))


def _encode_chunk(segments: list, tokenizer, ids: list[int], trainable: list[bool]) -> None:
    """Text up to an EOS, encoded in one piece; each token takes the mask of its first character."""
    text = "".join(s.text for s in segments)
    if not text:
        return
    by_char = np.concatenate([np.full(len(s.text), s.trainable, dtype=bool) for s in segments])
    encoding = tokenizer.inner.encode(text, add_special_tokens=False)
    ids.extend(encoding.ids)
    trainable.extend(bool(by_char[min(start, len(text) - 1)]) for start, _ in encoding.offsets)
