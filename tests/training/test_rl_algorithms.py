"""GRPO's pure functions against slow, obviously-correct references on random ragged inputs."""

from __future__ import annotations

import math
import random

import pytest
import torch

from training.rl.advantages import outcome_advantages, process_advantages, zero_variance_groups
from training.rl.losses import aggregate, grpo_token_loss, k3_kl


def _std(values: list[float], mode: str) -> float:
    if mode == "none":
        return 1.0
    mean = sum(values) / len(values)
    n = len(values) - (1 if mode == "unbiased" else 0)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / n)


@pytest.mark.parametrize("mode", ["unbiased", "population", "none"])
def test_outcome_advantages_match_a_loop(mode):
    rng = random.Random(0)
    rewards = [[float(rng.choice([0, 1])) for _ in range(5)] for _ in range(40)]
    rewards += [[rng.gauss(0, 2) for _ in range(5)] for _ in range(10)]
    got = outcome_advantages(torch.tensor(rewards, dtype=torch.float64), std=mode, eps=1e-6)
    for q, group in enumerate(rewards):
        mean = sum(group) / len(group)
        same = all(r == group[0] for r in group)
        scale = _std(group, mode) + (0 if mode == "none" else 1e-6)
        for i, r in enumerate(group):
            expected = 0.0 if same else (r - mean) / scale
            assert got[q, i].item() == pytest.approx(expected, abs=1e-9)


def test_zero_variance_groups_get_exactly_zero_and_are_reported():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert zero_variance_groups(rewards).tolist() == [True, False, True]
    adv = outcome_advantages(rewards)
    assert adv[0].eq(0).all() and adv[2].eq(0).all() and adv[1].ne(0).all()


@pytest.mark.parametrize("mode", ["unbiased", "population"])
def test_process_advantages_match_a_loop_on_ragged_steps(mode):
    rng = random.Random(1)
    for _ in range(20):
        g = rng.randint(1, 5)
        lengths = [rng.randint(1, 12) for _ in range(g)]
        ends = [sorted(rng.sample(range(n), rng.randint(0, min(n, 4)))) for n in lengths]
        values = [[rng.gauss(0, 1) for _ in e] for e in ends]
        got = process_advantages(ends, values, lengths, std=mode)
        flat = [v for vs in values for v in vs]
        if len(flat) < 2 or all(v == flat[0] for v in flat):
            assert got.eq(0).all()
            continue
        mean, scale = sum(flat) / len(flat), _std(flat, mode) + 1e-6
        for i in range(g):
            for t in range(max(lengths)):
                expected = sum((v - mean) / scale for e, v in zip(ends[i], values[i], strict=True) if e >= t)
                expected = expected if t < lengths[i] else 0.0
                assert got[i][t].item() == pytest.approx(expected, abs=1e-9)


def test_process_advantages_reject_a_step_past_the_response():
    with pytest.raises(ValueError, match="step end 5"):
        process_advantages([[1, 5]], [[0.0, 1.0]], [5])


def test_k3_kl_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.randn(4, 7).clamp(max=-0.01)
    assert k3_kl(logp, logp).abs().max().item() == 0.0
    other = logp + torch.randn(4, 7)
    kl = k3_kl(logp, other)
    assert (kl >= 0).all() and (kl > 0).any()
    expected = torch.exp(other) / torch.exp(logp) - torch.log(torch.exp(other) / torch.exp(logp)) - 1
    torch.testing.assert_close(kl, expected, rtol=1e-4, atol=1e-5)


def _reference_loss(logp, old, ref, adv, mask, eps, beta, mode):
    """Loop over outputs and tokens of the paper's formula."""
    per_output, tokens_total, total = [], 0, 0.0
    for i in range(len(logp)):
        terms = []
        for t in range(len(logp[i])):
            if not mask[i][t]:
                continue
            ratio = math.exp(logp[i][t] - old[i][t])
            a = adv[i][t]
            surrogate = min(ratio * a, min(max(ratio, 1 - eps), 1 + eps) * a)
            q = math.exp(ref[i][t] - logp[i][t])
            terms.append(-surrogate + beta * (q - math.log(q) - 1))
        if terms:
            per_output.append(sum(terms) / len(terms))
            total += sum(terms)
            tokens_total += len(terms)
    if mode == "sequence_mean":
        return sum(per_output) / len(per_output)
    return total / tokens_total


@pytest.mark.parametrize("mode", ["sequence_mean", "token_mean"])
def test_grpo_loss_matches_the_formula_with_masks_and_padding(mode):
    gen = torch.Generator().manual_seed(3)
    b, s = 6, 9
    logp = -torch.rand(b, s, generator=gen, dtype=torch.float64) * 3
    old = logp + 0.3 * torch.randn(b, s, generator=gen, dtype=torch.float64)  # ratios outside [0.8, 1.2] too
    ref = logp + 0.5 * torch.randn(b, s, generator=gen, dtype=torch.float64)
    adv = torch.randn(b, s, generator=gen, dtype=torch.float64)
    mask = torch.zeros(b, s, dtype=torch.bool)
    for i, (start, length) in enumerate([(2, 5), (1, 8), (3, 1), (0, 0), (4, 5), (2, 3)]):  # ragged, one empty
        mask[i, start:start + length] = True
    terms = grpo_token_loss(logp, old, ref, adv, clip_eps=0.2, kl_coef=0.04)
    total, count = aggregate(terms.loss, mask, mode)
    expected = _reference_loss(logp.tolist(), old.tolist(), ref.tolist(), adv.tolist(), mask.tolist(), 0.2, 0.04, mode)
    assert (total / count).item() == pytest.approx(expected, rel=1e-12)
    assert count.item() == (5 if mode == "sequence_mean" else mask.sum().item())
    assert terms.clipped[mask].any() and not terms.clipped[mask].all()


def test_one_update_per_exploration_stage_never_clips_and_has_the_stated_gradient():
    """At π = π_old: ρ ≡ 1, no clipping, and ∂L/∂log π_{i,t} = −(Â + β(π_ref/π − 1)) / (G |o_i|)."""
    gen = torch.Generator().manual_seed(4)
    g, s, beta = 5, 8, 0.04
    logp = (-torch.rand(g, s, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    ref = logp.detach() + 0.4 * torch.randn(g, s, generator=gen, dtype=torch.float64)
    adv = torch.randn(g, 1, generator=gen, dtype=torch.float64).expand(g, s)
    lengths = torch.tensor([8, 3, 5, 1, 6])
    mask = torch.arange(s).unsqueeze(0) < lengths.unsqueeze(1)
    terms = grpo_token_loss(logp, logp.detach(), ref, adv, clip_eps=0.2, kl_coef=beta)
    assert terms.ratio.eq(1).all() and not terms.clipped.any()
    total, count = aggregate(terms.loss, mask, "sequence_mean")
    (total / count).backward()
    expected = -(adv + beta * (torch.exp(ref - logp.detach()) - 1)) / (g * lengths.unsqueeze(1))
    torch.testing.assert_close(logp.grad, torch.where(mask, expected, torch.zeros_like(expected)))
    # and numerically, by central differences on one token
    def loss_at(x):
        t = grpo_token_loss(x, logp.detach(), ref, adv, kl_coef=beta)
        tot, cnt = aggregate(t.loss, mask, "sequence_mean")
        return (tot / cnt).item()
    bump = torch.zeros_like(logp)
    bump[1, 2] = 1e-6
    numeric = (loss_at(logp.detach() + bump) - loss_at(logp.detach() - bump)) / 2e-6
    assert numeric == pytest.approx(expected[1, 2].item(), rel=1e-5)


def test_stage_turns_outcome_and_step_rewards_into_token_advantages():
    from evaluation.benchmarks import BenchmarkItem
    from training.rl.grpo import AdvantageConfig, token_advantages
    from training.rl.rewards import Reward, Rollout

    item = BenchmarkItem("s", "0", "q", "1")
    rollouts = [Rollout(item, 0, "p", "r", (1,), tuple(range(n))) for n in (3, 2, 4, 1)]
    outcome, stats = token_advantages(rollouts, [Reward(value=v) for v in (1.0, 0.0, 1.0, 1.0)], 2,
                                      AdvantageConfig(std="population"))
    flat = [a for per_token in outcome for a in per_token]
    assert [len(a) for a in outcome] == [3, 2, 4, 1]
    assert flat == pytest.approx([1.0] * 3 + [-1.0] * 2 + [0.0] * 5, abs=1e-5)  # group 2: no variance -> 0
    assert stats["zero_variance_fraction"] == 0.5 and stats["reward_mean"] == 0.75
    steps = [Reward(steps=((0, 1.0), (2, 0.0))), Reward(steps=((1, 0.0),)), Reward(steps=((3, 1.0),)),
             Reward(steps=((0, 0.0),))]
    process, _ = token_advantages(rollouts, steps, 2, AdvantageConfig(std="population"))
    expected = process_advantages([[0, 2], [1]], [[1.0, 0.0], [0.0]], [3, 2], std="population")
    assert process[:2] == [expected[0, :3].tolist(), expected[1, :2].tolist()]
    with pytest.raises(ValueError, match="all outcome or all per-step"):
        token_advantages(rollouts, [Reward(value=1.0)] * 3 + steps[3:], 2, AdvantageConfig())
