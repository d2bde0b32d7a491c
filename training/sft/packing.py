"""Packing SFT samples into fixed-length training sequences, as pure functions over arrays.

The paper's method: samples in a random (seeded) order are concatenated into sequences of the maximum
length; a sample that does not fit starts the next sequence, the rest is padding. Each sample keeps
its own loss mask (`EncodedSample.trainable`). Optionally document-aware attention: a token attends
only to earlier tokens of its own sample and positions restart at 0 per sample. Under RoPE the
attention scores depend only on relative positions, so the block-diagonal mask alone makes a packed
sample's logits equal to the sample alone (megatron's GPTModel applies RoPE by sequence index and
ignores `position_ids`; they are passed for position embeddings that use them).

A packed row holds `seq_length + 1` tokens (inputs are tokens[:-1], labels tokens[1:]):
  loss_mask[t]       = trainable[t+1] and doc[t] == doc[t+1]        (pad positions: doc = -1, never counted)
  position_ids[t]    = t - start of doc[t]                           (document-aware only)
  attention_mask[t,u] = u > t or doc[u] != doc[t]   (True = blocked; document-aware only)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from training.sft.encode import EncodedSample


def pack_random(lengths: Sequence[int], capacity: int, seed: int) -> list[list[int]]:
    """Sample indices per packed sequence: a seeded permutation, filled in order, each sequence holding
    at most `capacity` tokens; every sample appears exactly once. A sample over `capacity` is an error
    (the data source truncates or drops those first, and counts them)."""
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(f"{len(too_long)} samples are longer than {capacity} tokens (first: index {too_long[0]})")
    order = np.random.default_rng(seed).permutation(len(lengths))
    bins: list[list[int]] = []
    used = capacity + 1
    for i in order.tolist():
        if used + lengths[i] > capacity:
            bins.append([])
            used = 0
        bins[-1].append(i)
        used += lengths[i]
    return bins


def pack_row(samples: Sequence[EncodedSample], seq_length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens [seq+1], trainable [seq+1], doc [seq+1]) of one packed sequence; doc -1 marks padding."""
    capacity = seq_length + 1
    tokens = np.full(capacity, pad_id, dtype=np.int64)
    trainable = np.zeros(capacity, dtype=bool)
    doc = np.full(capacity, -1, dtype=np.int64)
    at = 0
    for d, sample in enumerate(samples):
        end = at + len(sample)
        if end > capacity:
            raise ValueError(f"samples of {sum(len(s) for s in samples)} tokens do not fit {capacity}")
        tokens[at:end], trainable[at:end], doc[at:end] = sample.tokens, sample.trainable, d
        at = end
    return tokens, trainable, doc


def loss_mask(trainable: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """[..., seq]: label t+1 counts when it is trainable and of the same sample as input t."""
    return trainable[..., 1:] & (doc[..., 1:] == doc[..., :-1]) & (doc[..., 1:] >= 0)


def document_positions(doc: np.ndarray) -> np.ndarray:
    """[..., seq]: position of each input token within its sample (padding counts as one more sample)."""
    doc = doc[..., :-1]
    index = np.broadcast_to(np.arange(doc.shape[-1]), doc.shape)
    starts = np.where(np.concatenate([np.ones_like(doc[..., :1], dtype=bool), doc[..., 1:] != doc[..., :-1]], -1),
                      index, 0)
    return index - np.maximum.accumulate(starts, axis=-1)


def document_attention_mask(doc: np.ndarray) -> np.ndarray:
    """[b, 1, seq, seq] bool, True = may not attend: causal within each sample, nothing across samples."""
    doc = doc[..., :-1]
    seq = doc.shape[-1]
    causal = np.triu(np.ones((seq, seq), dtype=bool), k=1)
    other = doc[..., :, None] != doc[..., None, :]
    return (causal | other)[:, None]


def collate(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], document_aware: bool) -> dict[str, torch.Tensor]:
    """Packed rows -> a micro-batch as `training.objectives` reads it."""
    tokens, trainable, doc = (np.stack(parts) for parts in zip(*rows, strict=True))
    batch = {"tokens": torch.from_numpy(tokens), "loss_mask": torch.from_numpy(loss_mask(trainable, doc)).float()}
    if document_aware:
        batch["position_ids"] = torch.from_numpy(document_positions(doc))
        batch["attention_mask"] = torch.from_numpy(document_attention_mask(doc))
    return batch


def packing_efficiency(lengths: Sequence[int], bins: Sequence[Sequence[int]], seq_length: int) -> dict[str, float]:
    """Non-pad share of the token slots: packed, against one sample per sequence padded to `seq_length + 1`."""
    real = float(sum(lengths))
    capacity = seq_length + 1
    return {"samples": len(lengths), "sequences_packed": len(bins), "sequences_padded": len(lengths),
            "packed": real / (len(bins) * capacity) if bins else 0.0,
            "padded": real / (len(lengths) * capacity) if lengths else 0.0}
