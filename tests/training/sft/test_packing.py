"""Packing: every sample in exactly one sequence, no token lost or duplicated, loss masks and
document-aware positions/attention equal to a slow reference, and under document-aware attention a
sample's logits are the same packed as alone (real megatron-core model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.sft.encode import EncodedSample
from training.sft.packing import collate, pack_random, pack_row, packing_efficiency


def _samples(rng: np.random.Generator, n: int, vocab: int = 200, max_len: int = 40) -> list[EncodedSample]:
    out = []
    for _ in range(n):
        length = int(rng.integers(2, max_len))
        trainable = rng.random(length) < 0.6
        trainable[0] = False  # a sample's first token (BOS) is never a target
        out.append(EncodedSample(rng.integers(2, vocab, length), trainable))
    return out


def _reference(rows_samples: list[list[EncodedSample]], seq: int):
    """Slow, obviously right: walk each row token by token."""
    masks, positions, blocked = [], [], []
    for samples in rows_samples:
        doc, pos, train = [], [], []
        for d, s in enumerate(samples):
            doc += [d] * len(s)
            pos += list(range(len(s)))
            train += s.trainable.tolist()
        pad = seq + 1 - len(doc)
        doc, pos, train = doc + [-1] * pad, pos + list(range(pad)), train + [False] * pad
        masks.append([1.0 if train[t + 1] and doc[t + 1] == doc[t] and doc[t] >= 0 else 0.0 for t in range(seq)])
        positions.append(pos[:seq])
        blocked.append([[u > t or doc[u] != doc[t] for u in range(seq)] for t in range(seq)])
    return torch.tensor(masks), torch.tensor(positions), torch.tensor(blocked).unsqueeze(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packing_loses_and_duplicates_no_token_and_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    samples, seq = _samples(rng, 60), 63
    bins = pack_random([len(s) for s in samples], seq + 1, seed)
    assert sorted(i for b in bins for i in b) == list(range(len(samples)))
    assert all(sum(len(samples[i]) for i in b) <= seq + 1 for b in bins)
    assert all(sum(len(samples[i]) for i in b) + len(samples[bins[k + 1][0]]) > seq + 1 for k, b in enumerate(bins[:-1]))
    rows_samples = [[samples[i] for i in b] for b in bins]
    batch = collate([pack_row(r, seq, pad_id=1) for r in rows_samples], document_aware=True)
    for row, group in zip(batch["tokens"], rows_samples, strict=True):
        used = sum(len(s) for s in group)
        assert row[:used].tolist() == np.concatenate([s.tokens for s in group]).tolist()
        assert (row[used:] == 1).all()
    assert batch["loss_mask"].sum().item() == sum(int(s.trainable.sum()) for s in samples)
    mask, positions, blocked = _reference(rows_samples, seq)
    assert torch.equal(batch["loss_mask"], mask)
    assert torch.equal(batch["position_ids"], positions)
    assert torch.equal(batch["attention_mask"], blocked)
    eff = packing_efficiency([len(s) for s in samples], bins, seq)
    assert eff["packed"] > eff["padded"] and eff["packed"] <= 1.0


def test_too_long_sample_is_refused():
    with pytest.raises(ValueError, match="longer than 8 tokens"):
        pack_random([3, 9, 2], 8, seed=0)


def test_document_aware_logits_equal_the_sample_alone(megatron_world, tiny_cfg):
    from training.model import build_model, causal_inputs

    torch.manual_seed(0)
    model = build_model(tiny_cfg).eval()
    rng = np.random.default_rng(5)
    samples = _samples(rng, 3, vocab=tiny_cfg.vocab_size, max_len=12)
    seq = sum(len(s) for s in samples) + 4  # some padding too
    batch = collate([pack_row(samples, seq, pad_id=0)], document_aware=True)
    inputs = batch["tokens"][:, :-1]
    with torch.no_grad():
        packed = model(inputs, batch["position_ids"], batch["attention_mask"])
        plain = model(inputs, *causal_inputs(inputs))
        at = 0
        for s in samples:
            alone_inputs = torch.from_numpy(s.tokens).unsqueeze(0)
            alone = model(alone_inputs, *causal_inputs(alone_inputs))
            assert (packed[0, at:at + len(s)] - alone[0]).abs().max().item() < 1e-5
            if at:  # without the document mask, later samples see the earlier ones
                assert (plain[0, at:at + len(s)] - alone[0]).abs().max().item() > 1e-3
            at += len(s)
