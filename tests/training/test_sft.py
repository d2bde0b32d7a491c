"""SFT stage end to end on the real training core: built synthetic data, packed, fine-tuned from a
pretraining checkpoint (the loss falls, only assistant tokens count, HF export at the end), and
tensor parallel 2 gives the single-process losses to 1e-5 over 10 steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mathforge.config import load_config
from training.metrics import read_metrics
from training.sft.build import BuildConfig, SourceConfig, build_dataset
from training.sft.stage import SFTConfig, sft

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "tiny" / "sft.toml"


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    """40 generated problems x 3 formats, verified in the sandbox."""
    out = tmp_path_factory.mktemp("sft_data")
    build_dataset(BuildConfig(out_dir=out, sources=[SourceConfig("syn", "synthetic", count=40, heldout=10, seed=2)]))
    return out / "shards"


def _overrides(demo_run, data: Path, run_dir: Path, *extra: str) -> list[str]:
    root, _ = demo_run
    return [f'data.dataset="{data}"', f'data.tokenizer_dir="{root / "tokenizer"}"', f'train.run_dir="{run_dir}"',
            f'train.init_from_checkpoint="{root / "pretrain"}"', "model.seq_length=384", "train.global_batch_sequences=4",
            "train.micro_batch_size=2", "train.save_every=0", *extra]


@pytest.mark.timeout(1200)  # the shared demo_run fixture may be built inside it
def test_sft_learns_from_a_pretraining_checkpoint_and_exports(demo_run, sft_data, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = load_config(SFTConfig, CONFIG, _overrides(demo_run, sft_data, tmp_path / "run", "train.steps=24",
                                                    "train.warmup_steps=2"))
    summary = sft(cfg)
    losses = [r["loss"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert len(losses) == 24 and sum(losses[-4:]) < 0.7 * sum(losses[:4]), losses
    data = json.loads((tmp_path / "run" / "sft_data.json").read_text())
    assert "skipped_too_long" not in data["examples"] and sum(data["examples"].values()) == 120
    assert 0 < data["trainable_tokens"] and data["packed"] > data["padded"]
    AutoModelForCausalLM.from_pretrained(summary["hf"])  # the export loads
    from safetensors.torch import load_file

    from training.cli import main

    args = ["export", "--stage", "sft", "--out", str(tmp_path / "offline"), str(CONFIG),
            *_overrides(demo_run, sft_data, tmp_path / "run")]
    assert main(args) == 0  # the offline export of an SFT run equals the run's own
    ours, theirs = load_file(tmp_path / "offline" / "model.safetensors"), load_file(Path(summary["hf"]) / "model.safetensors")
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)


def _run_cli(args: list[str], nproc: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "training.cli", "sft", str(CONFIG), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)


@pytest.mark.timeout(1200)
def test_tensor_parallel_sft_equals_one_process(demo_run, sft_data, tmp_path):
    """Document-aware packing too, so the per-sample attention masks go through the TP attention."""
    runs = {}
    for tp in (1, 2):
        run_dir = tmp_path / f"tp{tp}"
        args = _overrides(demo_run, sft_data, run_dir, "train.steps=10", f"parallel.tensor={tp}",
                          "data.document_aware=true", "train.export_hf=false")
        proc = _run_cli(args, nproc=tp)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        runs[tp] = [(r["loss"], r["grad_norm"]) for r in read_metrics(run_dir / "metrics.jsonl")]
    assert len(runs[1]) == 10
    for (loss1, norm1), (loss2, norm2) in zip(runs[1], runs[2], strict=True):
        assert abs(loss1 - loss2) < 1e-5 and abs(norm1 - norm2) < 1e-4 * norm1, runs


def test_sft_configs_load_and_the_7b_one_has_the_papers_recipe():
    tiny = load_config(SFTConfig, CONFIG)
    assert tiny.build.sources[0].kind == "synthetic" and tiny.model.seq_length >= 512
    paper = load_config(SFTConfig, REPO / "configs" / "deepseekmath-7b" / "sft.toml")
    assert (paper.train.lr, paper.train.warmup_steps, paper.train.steps) == (5e-5, 0, 500)  # constant lr
    assert (paper.train.global_batch_sequences, paper.model.seq_length) == (256, 4096)
    assert {s.kind for s in paper.build.sources} == {"gsm8k", "math", "tora", "ape210k"}
    assert paper.build.decontam.enabled and not paper.data.document_aware
