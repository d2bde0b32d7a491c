"""megatron-core on CPU/gloo (training/cpu_compat.py): a tiny GPT learns; TP=2, PP=2 and DP=2 give
the single-process losses to 1e-5 over 10 steps on identical weights."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training import hf_checkpoint
from training.model import build_model
from training.parallel import ParallelConfig, distributed

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("parallel_worker.py")


def _load_worker():
    """The worker module by path (works under every pytest import mode; torchrun runs the same file)."""
    spec = importlib.util.spec_from_file_location("parallel_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()
STEPS = 10


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Initial weights (saved for the workers) and the single-process losses from them."""
    path = tmp_path_factory.mktemp("weights") / "full.pt"
    with distributed(ParallelConfig(), seed=0):
        full = hf_checkpoint.gather_full_state(build_model(worker.CFG), worker.CFG)
        torch.save(full, path)
        losses = worker.run_steps(full, STEPS)
    return path, losses


def test_tiny_gpt_learns_on_cpu(reference):
    losses = [loss for loss, _ in reference[1]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses
    assert reference[1][0][1] > 1.0  # gradient clipping is active in these runs


@pytest.mark.timeout(240)
@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2), (1, 1)], ids=["tp2", "pp2", "dp2"])
def test_two_process_layout_matches_single_process(reference, tmp_path, tp, pp):
    weights, expected = reference
    out = tmp_path / "losses.json"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(WORKER),
        "--tp", str(tp), "--pp", str(pp), "--steps", str(STEPS), "--weights", str(weights), "--out", str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert len(got) == STEPS
    for (loss, norm), (loss_ref, norm_ref) in zip(got, expected, strict=True):
        assert abs(loss - loss_ref) < 1e-5 and abs(norm - norm_ref) < 1e-4 * norm_ref, (got, expected)
