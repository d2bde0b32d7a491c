"""The step's pure parts against references: the gradient norm and the clipping coefficient."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training.step import clip_coefficient, l2_norm_squared


@settings(max_examples=50, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3), min_size=1, max_size=6),
       seed=st.integers(0, 2**16), max_norm=st.floats(0.01, 10))
def test_norm_and_clipping_match_torch(shapes, seed, max_norm):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 3
    norm = l2_norm_squared(p.grad for p in params).sqrt().item()
    expected = torch.nn.utils.get_total_norm([p.grad for p in params]).item()
    assert norm == pytest.approx(expected, rel=1e-5)
    clipped = [p.grad * clip_coefficient(norm, max_norm) for p in params]
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    for ours, ref in zip(clipped, params, strict=True):
        torch.testing.assert_close(ours, ref.grad, rtol=1e-5, atol=1e-6)


def test_clipping_off_and_no_gradients():
    assert clip_coefficient(123.0, 0.0) == 1.0
    assert clip_coefficient(0.5, 1.0) == 1.0
    assert l2_norm_squared([]).item() == 0.0
