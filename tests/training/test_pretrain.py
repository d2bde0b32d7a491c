"""Pretraining loop: resume after a real kill and after a stop signal reproduces the uninterrupted
losses exactly; a NaN loss stops the run with the last good checkpoint intact; the demo stage learns
and exports a checkpoint that transformers loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mathforge.config import load_config
from training import checkpoint
from training.demo import TINY_CONFIG
from training.metrics import read_metrics
from training.pretrain import PretrainConfig, TrainingStopped, pretrain

REPO = Path(__file__).resolve().parents[2]


def _launch(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "training.cli", "pretrain", str(TINY_CONFIG), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _losses(run_dir: Path) -> list[tuple[int, float, float]]:
    return [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(run_dir / "metrics.jsonl")]


def _wait_for_new_checkpoint(proc: subprocess.Popen, run_dir: Path, previous: Path | None) -> Path:
    deadline = time.time() + 150
    while (latest := checkpoint.latest(run_dir) if (run_dir / "checkpoints" / "latest").is_file() else None) in (
        None, previous):
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.02)
    return latest


@pytest.mark.timeout(300)
def test_resume_after_kill_and_after_sigterm_gives_the_uninterrupted_losses(run_overrides, tmp_path):
    steps = ["train.total_tokens=65536", "train.save_every=2"]  # 16 steps of 4096 tokens
    whole = _launch(run_overrides(tmp_path / "whole", tmp_path / "tok_whole", *steps))
    run_dir = tmp_path / "interrupted"
    args = run_overrides(run_dir, tmp_path / "tok_interrupted", *steps)
    killed = _launch(args)
    killed_at = _wait_for_new_checkpoint(killed, run_dir, None)
    os.killpg(killed.pid, signal.SIGKILL)  # a crash: no chance to save
    killed.wait(30)
    assert checkpoint.latest(run_dir).name != "step_00000016", "the run finished before it could be killed"

    terminated = _launch(args)  # resumes, then gets the scheduler's stop signal
    _wait_for_new_checkpoint(terminated, run_dir, killed_at)
    os.killpg(terminated.pid, signal.SIGTERM)
    out, _ = terminated.communicate(timeout=120)
    assert terminated.returncode == 0 and '"stopped_at"' in out, out[-3000:]
    stopped_at = int(checkpoint.latest(run_dir).name.removeprefix("step_"))
    assert stopped_at < 16 and len(read_metrics(run_dir / "metrics.jsonl")) == stopped_at  # saved where it stopped

    finished = _launch(args)
    for proc in (whole, finished):
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out[-3000:]
    expected = _losses(tmp_path / "whole")
    assert [s for s, _, _ in expected] == list(range(16))
    assert _losses(run_dir) == expected  # bit-identical losses and gradient norms
    kept = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*"))
    assert len(kept) == 3 and kept[-1] == "step_00000016", kept  # train.keep_checkpoints = 3
    assert expected[-1][1] < expected[0][1]


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(run_overrides, tmp_path):
    run_dir = tmp_path / "run"
    blow_up = ["train.total_tokens=40960", "train.save_every=1", "schedule.peak_lr=1e10",
               "schedule.warmup_steps=1", "optimizer.clip_grad=0"]
    cfg = load_config(PretrainConfig, TINY_CONFIG, run_overrides(run_dir, tmp_path / "tok", *blow_up))
    with pytest.raises(TrainingStopped, match=r"step 1: loss nan .*Last good checkpoint: .*step_00000001"):
        pretrain(cfg)
    good = checkpoint.latest(run_dir)
    assert good.name == "step_00000001"
    assert json.loads((good / "meta.json").read_text())["step"] == 1
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [0]
    assert not list((run_dir / "checkpoints").glob(".*tmp"))


def test_demo_stage_learns_and_exports_a_loadable_checkpoint(demo_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp_path, summary = demo_run
    assert summary["loss_last"] < 0.4 * summary["loss_first"], summary
    model = AutoModelForCausalLM.from_pretrained(summary["hf_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(summary["hf_dir"])
    ids = tokenizer("Problem: compute $12 + 30$.\nSolution:", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(" we have $")  # it learned the solution's shape
    assert (tmp_path / "pretrain" / "loss.png").stat().st_size > 0
    assert (tmp_path / "pretrain" / "config.json").is_file()


def test_offline_export_of_a_checkpoint_equals_the_runs_export(demo_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    from training.cli import main

    root, summary = demo_run
    args = ["export", "--out", str(tmp_path / "hf"), str(TINY_CONFIG),
            f'train.run_dir="{root / "pretrain"}"', f'data.tokenizer_dir="{root / "tokenizer"}"']
    assert main(args) == 0
    ours = load_file(tmp_path / "hf" / "model.safetensors")
    theirs = load_file(f"{summary['hf_dir']}/model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert (tmp_path / "hf" / "tokenizer.json").read_bytes() == (root / "tokenizer" / "tokenizer.json").read_bytes()


def test_tokenizer_command_trains_on_the_sources(run_overrides, tmp_path):
    from training.cli import main
    from training.tokenizer import load_tokenizer

    args = run_overrides(tmp_path / "run", tmp_path / "tok")
    args = [a for a in args if not a.startswith("data.tokenizer_dir")] + [f'data.tokenizer_dir="{tmp_path / "bpe"}"']
    assert main(["tokenizer", "--vocab-size", "300", str(TINY_CONFIG), *args]) == 0
    tokenizer = load_tokenizer(tmp_path / "bpe")
    assert tokenizer.vocab_size == 300 and tokenizer.decode(tokenizer.encode("compute $3 + 4$")) == "compute $3 + 4$"
