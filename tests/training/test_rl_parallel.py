"""GRPO under tensor parallel 2 equals one process to 1e-5 on fixed rollouts (odd, padded vocabulary;
vocab-parallel log-probs and entropy), for one and for several updates per exploration stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.conftest import load_worker
from training import hf_checkpoint
from training.model import build_model
from training.parallel import ParallelConfig, distributed

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("grpo_parallel_worker.py")


worker = load_worker(WORKER)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grpo_weights") / "full.pt"
    with distributed(ParallelConfig(), seed=0):
        torch.save(hf_checkpoint.gather_full_state(build_model(worker.CFG), worker.CFG), path)
    return path


def _one_process(weights: Path, mu: int) -> list[dict[str, float]]:
    with distributed(ParallelConfig(), seed=0):
        return worker.run_updates(torch.load(weights), mu=mu)


def _tp2(weights: Path, mu: int, tmp_path: Path) -> list[dict[str, float]]:
    out = tmp_path / f"grpo_tp2_mu{mu}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           "--tp", "2", "--mu", str(mu), "--weights", str(weights), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_one_update_per_exploration_stage_keeps_the_ratio_at_one(weights):
    first = _one_process(weights, mu=1)[0]
    assert first["ratio_deviation"] == 0.0 and first["clip_fraction"] == 0.0
    assert first["kl"] > 0 and first["entropy"] > 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mu", [1, 3])
def test_tp2_grpo_matches_one_process(weights, tmp_path, mu):
    expected = _one_process(weights, mu)
    got = _tp2(weights, mu, tmp_path)
    if mu > 1:  # later updates move π away from π_old: the clip acts
        assert expected[-1]["ratio_deviation"] > 0
    for step_got, step_ref in zip(got, expected, strict=True):
        assert step_got.keys() == step_ref.keys()
        for key, value in step_ref.items():
            assert step_got[key] == pytest.approx(value, abs=1e-5, rel=1e-5), (key, got, expected)
