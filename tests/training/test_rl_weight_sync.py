"""Bucketed weight sync: the bucket plan, and the buckets (one process, TP 2, PP 2) together equal the HF
export of the whole model, tensor for tensor. (The engine side, buckets loaded into vLLM, is in
test_rl_vllm.py.)"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.conftest import load_worker
from training import hf_checkpoint
from training.model import build_model
from training.parallel import ParallelConfig, distributed
from training.rl.weight_sync import bucket_to_hf, hf_buckets, model_units, plan_buckets, unit_of

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("grpo_parallel_worker.py")
worker = load_worker(WORKER)


@pytest.mark.parametrize("seed", range(20))
def test_bucket_plan_is_greedy_in_model_order(seed):
    rng = random.Random(seed)
    units = [(f"u{i}", rng.choice([0, rng.randint(1, 100)])) for i in range(rng.randint(0, 30))]
    limit = rng.choice([0, 1, rng.randint(1, 250)])
    buckets = plan_buckets(units, limit)
    sizes = dict(units)
    assert [u for b in buckets for u in b] == [u for u, n in units if n]  # every non-empty unit once, in order
    if limit <= 0:
        assert len(buckets) <= 1
        return
    for bucket, following in zip(buckets, buckets[1:] + [None], strict=True):
        total = sum(sizes[u] for u in bucket)
        assert total <= limit or len(bucket) == 1  # over the limit only a unit alone
        if following is not None:  # the next bucket's first unit would not have fitted
            assert total + sizes[following[0]] > limit


def _full_state(seed: int = 0) -> dict[str, torch.Tensor]:
    with distributed(ParallelConfig(), seed=seed):
        return hf_checkpoint.gather_full_state(build_model(worker.CFG), worker.CFG)


@pytest.fixture(scope="module")
def full_state() -> dict[str, torch.Tensor]:
    return _full_state()


def _assert_equal_to_export(buckets: list[dict[str, torch.Tensor]], full: dict[str, torch.Tensor]) -> None:
    export = hf_checkpoint.megatron_to_hf(full, worker.CFG)
    merged: dict[str, torch.Tensor] = {}
    for bucket in buckets:
        assert not set(bucket) & set(merged)  # no tensor in two buckets
        merged |= bucket
    assert set(merged) == set(export)
    for name, tensor in export.items():
        assert torch.equal(merged[name], tensor), name


def test_buckets_of_one_process_equal_the_export(full_state):
    with distributed(ParallelConfig(), seed=0):
        model = build_model(worker.CFG)
        hf_checkpoint.load_into_model(model, full_state, worker.CFG)
        layer_mb = sum(t.numel() for n, t in full_state.items() if unit_of(n) == "layer.0") * 4 / 2**20
        tiny = list(hf_buckets(model, worker.CFG, 0.001, torch.float32))
        two_layers = list(hf_buckets(model, worker.CFG, 2.5 * layer_mb, torch.float32))
        whole = list(hf_buckets(model, worker.CFG, 0, torch.float32))
    assert len(tiny) == len(model_units(worker.CFG)) == 5  # one unit per bucket
    assert len(whole) == 1
    assert any(len([n for n in b if ".layers." in n]) == 18 for b in two_layers)  # two layers x 9 HF tensors
    for buckets in (tiny, two_layers, whole):
        _assert_equal_to_export(buckets, full_state)


def test_bucket_to_hf_keeps_global_layer_numbers(full_state):
    part = {n: t for n, t in full_state.items() if unit_of(n) in ("layer.1", "decoder.final_layernorm.weight")}
    hf = bucket_to_hf(part, worker.CFG)
    assert sorted(hf) == sorted(n for n in hf_checkpoint.megatron_to_hf(full_state, worker.CFG)
                                if n.startswith("model.layers.1.") or n == "model.norm.weight")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", [("--tp", "2"), ("--pp", "2")])
def test_buckets_under_tensor_and_pipeline_parallel_equal_the_export(full_state, tmp_path, layout):
    weights, out = tmp_path / "full.pt", tmp_path / "buckets.pt"
    torch.save(full_state, weights)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           *layout, "--sync-bucket-mb", "0.001", "--weights", str(weights), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    buckets = torch.load(out)
    assert len(buckets) == 5, json.dumps([sorted(b) for b in buckets])
    _assert_equal_to_export(buckets, full_state)
