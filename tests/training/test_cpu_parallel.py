"""megatron-core on CPU/gloo (training/cpu_compat.py): a tiny GPT learns; TP=2, PP=2 and DP=2 (also
with the distributed optimizer and overlapped gradient reduction) give the single-process losses to
1e-5 over 10 steps on identical weights, and so does TP=2 for grouped-query attention with a
non-default RoPE base and an odd (padded) vocabulary; a one-process dist_checkpointing checkpoint resumes under
TP=2, PP=2 and DP=2 with the same next losses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mathforge.config import ConfigError
from tests.training.conftest import load_worker
from training import hf_checkpoint
from training.model import build_model
from training.parallel import ParallelConfig, distributed

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("parallel_worker.py")


worker = load_worker(WORKER)
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


def _torchrun(tmp_path: Path, *args: str) -> list[list[float]]:
    """The worker under torchrun with 2 processes; rank 0's [loss, grad norm] per step."""
    out = tmp_path / "losses.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           *args, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _assert_same(got: list[list[float]], expected: list[list[float]]) -> None:
    assert len(got) == len(expected)
    for (loss, norm), (loss_ref, norm_ref) in zip(got, expected, strict=True):
        assert abs(loss - loss_ref) < 1e-5 and abs(norm - norm_ref) < 1e-4 * norm_ref, (got, expected)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("tp,pp,dist_opt", [(2, 1, False), (1, 2, False), (1, 1, False), (1, 1, True)],
                         ids=["tp2", "pp2", "dp2", "dp2-distributed-optimizer-overlap"])
def test_two_process_layout_matches_single_process(reference, tmp_path, tp, pp, dist_opt):
    weights, expected = reference
    args = ["--tp", str(tp), "--pp", str(pp), "--steps", str(STEPS), "--weights", str(weights)]
    if dist_opt:  # ZeRO-1 with each gradient bucket reduced during the backward pass
        args += ["--distributed-optimizer", "--overlap-grad-reduce"]
    _assert_same(_torchrun(tmp_path, *args), expected)


@pytest.fixture(scope="module")
def gqa_reference(tmp_path_factory):
    """The same for `worker.GQA_CFG` (8 heads / 2 KV heads, theta 500000, vocab 251)."""
    path = tmp_path_factory.mktemp("gqa_weights") / "full.pt"
    with distributed(ParallelConfig(), seed=0):
        full = hf_checkpoint.gather_full_state(build_model(worker.GQA_CFG), worker.GQA_CFG)
        torch.save(full, path)
        losses = worker.run_steps(full, STEPS, cfg=worker.GQA_CFG)
    return path, losses


@pytest.mark.timeout(240)
def test_gqa_odd_vocab_theta_under_tp2_matches_single_process(gqa_reference, tmp_path):
    weights, expected = gqa_reference
    args = ["--tp", "2", "--steps", str(STEPS), "--weights", str(weights), "--model", "gqa"]
    _assert_same(_torchrun(tmp_path, *args), expected)


@pytest.fixture(scope="module")
def one_process_checkpoints(reference, tmp_path_factory):
    """Single-process runs from the reference weights (plain and distributed optimizer) that save a
    checkpoint after 2 of their 4 steps: {distributed optimizer: (run folder, losses)}."""
    runs = {}
    for dist_opt in (False, True):
        run_dir = tmp_path_factory.mktemp("one_process_run")
        with distributed(ParallelConfig(), seed=0):
            losses = worker.run_steps(torch.load(reference[0]), 4, distributed_optimizer=dist_opt, run_dir=run_dir,
                                      save_at=2)
        _assert_same(losses, reference[1][:4])
        runs[dist_opt] = run_dir, losses
    return runs


@pytest.mark.timeout(240)
@pytest.mark.parametrize("tp,pp,dist_opt", [(2, 1, False), (1, 2, False), (1, 1, True)],
                         ids=["tp2", "pp2", "dp2-distributed-optimizer"])
def test_one_process_checkpoint_resumes_under_another_layout(one_process_checkpoints, tmp_path, tp, pp, dist_opt):
    """megatron reshards model and Adam states: the steps after the resume give the one-process run's
    losses (the second one depends on the restored Adam moments)."""
    run_dir, expected = one_process_checkpoints[dist_opt]
    args = ["--tp", str(tp), "--pp", str(pp), "--steps", "2", "--resume", str(run_dir)]
    _assert_same(_torchrun(tmp_path, *args, *(["--distributed-optimizer"] if dist_opt else [])), expected[2:])


def test_resume_with_another_optimizer_setting_is_refused(one_process_checkpoints):
    run_dir, _ = one_process_checkpoints[True]
    with distributed(ParallelConfig(), seed=0), pytest.raises(ConfigError, match="use_distributed_optimizer=true"):
        worker.run_steps(None, 1, distributed_optimizer=False, run_dir=run_dir)
