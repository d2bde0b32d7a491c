"""The multi-step LR schedule at every boundary and against a slow reference; the batch arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.schedule import ScheduleConfig, multi_step_lr, plan_batch

PAPER = ScheduleConfig()


def reference_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Written from the paper's sentence, token by token: tokens seen before this step / all tokens."""
    if step < warmup:
        return peak * (step + 1) / warmup
    seen = step / total
    if seen < 0.8:
        return peak
    if seen < 0.9:
        return peak * 0.316
    return peak * 0.1


def test_paper_schedule_at_every_boundary():
    total = 50_000  # 500B tokens / 10M-token batches
    peak = 4.2e-4
    assert multi_step_lr(0, total, PAPER) == pytest.approx(peak / 2000)
    assert multi_step_lr(999, total, PAPER) == pytest.approx(peak / 2)
    assert multi_step_lr(1999, total, PAPER) == pytest.approx(peak)
    assert multi_step_lr(2000, total, PAPER) == peak
    assert multi_step_lr(39_999, total, PAPER) == peak
    assert multi_step_lr(40_000, total, PAPER) == pytest.approx(peak * 0.316)
    assert multi_step_lr(44_999, total, PAPER) == pytest.approx(peak * 0.316)
    assert multi_step_lr(45_000, total, PAPER) == pytest.approx(peak * 0.1)
    assert multi_step_lr(total - 1, total, PAPER) == pytest.approx(peak * 0.1)


@given(total=st.integers(1, 20_000), warmup=st.integers(1, 3000), frac=st.floats(0, 0.9999))
def test_matches_slow_reference(total, warmup, frac):
    step = int(frac * total)
    cfg = ScheduleConfig(peak_lr=1e-3, warmup_steps=warmup)
    assert multi_step_lr(step, total, cfg) == pytest.approx(reference_lr(step, total, 1e-3, warmup))


def test_rejects_bad_schedule():
    with pytest.raises(ValueError):
        ScheduleConfig(boundaries=[0.9, 0.8])
    with pytest.raises(ValueError):
        ScheduleConfig(boundaries=[0.8], factors=[0.3, 0.1])
    with pytest.raises(ValueError):
        multi_step_lr(-1, 10, PAPER)


def test_batch_plan_turns_tokens_into_accumulation():
    plan = plan_batch(global_batch_tokens=10_000_000, seq_length=4096, micro_batch_size=1, data_parallel=64)
    assert plan.num_microbatches == 38  # 2441 sequences -> 38 x 64
    assert plan.global_batch_sequences == 2432
    assert plan.global_batch_tokens == 2432 * 4096
    tiny = plan_batch(4096, 64, micro_batch_size=8, data_parallel=2)
    assert (tiny.num_microbatches, tiny.global_batch_tokens) == (4, 4096)
    with pytest.raises(ValueError, match="smaller than one micro-batch"):
        plan_batch(100, 64, micro_batch_size=2, data_parallel=1)
