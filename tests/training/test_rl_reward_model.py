"""Reward model: scalar head on a tiny case, the losses against slow references, megatron scores equal
the HF export's (transformers LlamaForSequenceClassification), AUC against a pairwise count."""

from __future__ import annotations

import math
import random

import pytest
import torch

from training.model import ModelConfig, build_model
from training.reward_model import (
    RewardObjective,
    ScalarHead,
    attach_scalar_head,
    collate,
    export_reward_model_hf,
    score_batches,
    scores_at,
)
from training.rl.rm_eval import (
    auc,
    cleared_share,
    first_wrong_step_location,
    group_auc,
    predicted_first_wrong,
)


def test_scalar_head_reads_the_hidden_state_at_each_position():
    head = ScalarHead(3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    hidden = torch.tensor([[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]],  # [s=2, b=2, h=3]
                           [[2.0, 1.0, 0.0], [4.0, 0.0, 2.0]]])
    scores, bias = head(hidden)
    assert bias is None
    assert scores[..., 0].tolist() == [[2.0, -2.0], [0.0, 5.0]]  # w · h_t
    values = scores[..., 0].transpose(0, 1)  # [b, s] as megatron returns it
    assert scores_at(values, torch.tensor([[1, 0], [1, 1]])).tolist() == [[0.0, 2.0], [5.0, 5.0]]


def _reference_pointwise(values, index, target, mask):
    total, count, right = 0.0, 0.0, 0.0
    for b in range(values.shape[0]):
        for k in range(index.shape[1]):
            if mask[b, k]:
                s, y = values[b, index[b, k]].item(), target[b, k].item()
                p = 1 / (1 + math.exp(-s))
                total += -(y * math.log(p) + (1 - y) * math.log(1 - p))
                count += 1
                right += float((s > 0) == (y > 0.5))
    return total, count, right


@pytest.mark.parametrize("seed", range(5))
def test_losses_match_slow_references(seed):
    gen = torch.Generator().manual_seed(seed)
    b, s, k = 6, 9, 3
    output = torch.randn(b, s, 1, generator=gen) * 3
    lengths = torch.randint(1, k + 1, (b,), generator=gen)
    mask = (torch.arange(k)[None] < lengths[:, None]).float()
    batch = {"score_index": torch.randint(0, s, (b, k), generator=gen), "score_mask": mask,
             "score_target": torch.rand(b, k, generator=gen).round() * 0.5 + torch.rand(b, k, generator=gen) * 0.5}
    total, count, metrics = RewardObjective("pointwise").loss(output, batch)
    ref_total, ref_count, ref_right = _reference_pointwise(output[..., 0], batch["score_index"], batch["score_target"], mask)
    assert total.item() == pytest.approx(ref_total, rel=1e-5) and count.item() == ref_count
    assert metrics["accuracy"][0].item() == ref_right
    pair_batch = {"score_index": torch.randint(0, s, (b, 1), generator=gen), "score_mask": torch.ones(b, 1)}
    total, count, metrics = RewardObjective("pairwise").loss(output, pair_batch)
    chosen = [output[i, pair_batch["score_index"][i, 0], 0].item() for i in range(0, b, 2)]
    rejected = [output[i, pair_batch["score_index"][i, 0], 0].item() for i in range(1, b, 2)]
    ref = sum(math.log1p(math.exp(-(c - r))) for c, r in zip(chosen, rejected, strict=True))
    assert total.item() == pytest.approx(ref, rel=1e-5) and count.item() == b // 2
    assert metrics["accuracy"][0].item() == sum(c > r for c, r in zip(chosen, rejected, strict=True))


def test_collate_pads_and_masks():
    batch = collate([([5, 6, 7], [2], [1.0]), ([8, 9], [0, 1], [0.0, 0.5])], pad_id=0)
    assert batch["tokens"].tolist() == [[5, 6, 7, 0], [8, 9, 0, 0]]
    assert batch["score_index"].tolist() == [[2, 0], [0, 1]]
    assert batch["score_mask"].tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert batch["score_target"].tolist() == [[1.0, 0.0], [0.0, 0.5]]


def test_megatron_scores_equal_the_hf_export(megatron_world, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from training.hf_checkpoint import gather_full_state
    from training.rl.model_rewards import RewardScorer

    cfg = ModelConfig(num_layers=2, hidden_size=64, num_attention_heads=2, ffn_hidden_size=128, vocab_size=96,
                      seq_length=16)
    model = build_model(cfg)
    attach_scalar_head(model, seed=3)
    rows = [([random.Random(i).randrange(96) for _ in range(n)], list(range(n)), [1.0] * n) for i, n in enumerate((16, 9, 12))]
    ours = score_batches(model, [collate(rows, pad_id=1)])[0]
    folder = export_reward_model_hf(gather_full_state(model, cfg), cfg, tmp_path / "rm")
    hf = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    for row, (ids, _, _) in enumerate(rows):
        with torch.no_grad():
            pooled = hf(torch.tensor([ids])).logits[0, 0]
        torch.testing.assert_close(pooled, ours[row, len(ids) - 1], rtol=1e-5, atol=1e-5)
    served = RewardScorer(folder).position_scores([ids for ids, _, _ in rows])
    for row, (ids, _, _) in enumerate(rows):
        torch.testing.assert_close(served[row], ours[row, : len(ids)], rtol=1e-5, atol=1e-5)


def test_auc_matches_pair_counting():
    rng = random.Random(0)
    for _ in range(20):
        scores = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(30)]
        labels = [rng.random() < 0.5 for _ in range(30)]
        if all(labels) or not any(labels):
            continue
        pos = [s for s, y in zip(scores, labels, strict=True) if y]
        neg = [s for s, y in zip(scores, labels, strict=True) if not y]
        pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
        assert auc(scores, labels) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_group_auc_counts_pairs_within_a_group_only():
    rng = random.Random(1)
    for _ in range(20):
        scores = [rng.choice([0.0, 0.5, rng.random()]) for _ in range(40)]
        labels = [rng.random() < 0.5 for _ in range(40)]
        groups = [rng.randrange(6) for _ in range(40)]
        pairs = [(1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
                 for i in range(40) for j in range(40) if groups[i] == groups[j] and labels[i] and not labels[j]]
        assert group_auc(scores, labels, groups) == pytest.approx(sum(pairs) / len(pairs))
    # every group ranked right while the pooled AUC is not: the easy question scores above the hard one
    assert group_auc([0.9, 0.8, 0.2, 0.1], [True, False, True, False], ["easy", "easy", "hard", "hard"]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [True, False, True, False]) == 0.75
    with pytest.raises(ValueError, match="both correct and wrong"):
        group_auc([0.1, 0.2], [True, False], ["a", "b"])


def test_first_wrong_step_location():
    assert predicted_first_wrong([2.0, 0.1, -1.0, -3.0]) == 2
    assert predicted_first_wrong([1.0, 1.0]) is None
    result = first_wrong_step_location([[1.0, -1.0, -1.0], [-2.0, 1.0], [3.0, 3.0, 3.0, 3.0]], [1, 1, 0])
    assert result["located"] == pytest.approx(1 / 3)
    assert result["chance"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 4) / 3)
    assert cleared_share([[1.0, 2.0], [1.0, -0.5], [0.1]]) == pytest.approx(2 / 3)
    assert cleared_share([[1.0, 2.0], [1.0, -0.5], [0.1]], threshold=0.6) == pytest.approx(1 / 3)
