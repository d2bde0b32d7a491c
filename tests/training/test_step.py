"""megatron's gradient norm and clipping, running on CPU through training/cpu_compat.py, against
torch's on random gradients; and the CPU-as-CUDA mode's three rewrites."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training import cpu_compat
from training.parallel import ParallelConfig, distributed

pytestmark = pytest.mark.skipif(not cpu_compat.cuda_absent(), reason="checks the CPU stand-ins for CUDA")


@pytest.fixture(scope="module")
def world_of_one():
    with distributed(ParallelConfig(), seed=0):
        yield


def test_cpu_as_cuda_mode(world_of_one):
    t = torch.ones(3)
    assert torch.zeros(2, device="cuda").device.type == "cpu"
    assert torch.tensor([1.0], device=torch.device("cuda", 0)).device.type == "cpu"
    assert t.cuda() is t
    assert t.type() == "torch.cuda.FloatTensor" and t.bfloat16().type() == "torch.cuda.BFloat16Tensor"
    assert t.type(torch.float64).dtype == torch.float64  # conversions are left alone


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3), min_size=1, max_size=6),
       seed=st.integers(0, 2**16), max_norm=st.floats(0.01, 10))
def test_megatron_norm_and_clipping_match_torch(world_of_one, shapes, seed, max_norm):
    from megatron.core import parallel_state as ps
    from megatron.core.optimizer.clip_grads import clip_grad_by_total_norm_fp32, get_grad_norm_fp32

    gen = torch.Generator().manual_seed(seed)
    ours = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    ref = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for a, b in zip(ours, ref, strict=True):
        a.grad = torch.randn(a.shape, generator=gen) * 3
        b.grad = a.grad.clone()
    norm = get_grad_norm_fp32([p.grad for p in ours], grad_stats_parallel_group=ps.get_model_parallel_group())
    clip_grad_by_total_norm_fp32(ours, max_norm, norm)
    expected = torch.nn.utils.clip_grad_norm_(ref, max_norm).item()
    assert norm == pytest.approx(expected, rel=1e-5)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
