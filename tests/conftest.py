"""Fixtures shared by every test package: where the benchmark data lies, and the local Slurm cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("MATHFORGE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """`../shared/data/benchmarks` (real benchmark test sets); tests that need it skip where it is absent."""
    path = _shared_dir() / "data" / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path} (set MATHFORGE_SHARED to the shared/ folder)")
    return path


def slurm_running() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s.strip("*") in {"idle", "mixed", "allocated"} for s in out.stdout.split())


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A running single-node Slurm (`just slurm-up`). Skips where there is none, unless CI demands it."""
    if not slurm_running():
        if os.environ.get("MATHFORGE_REQUIRE_SLURM") == "1":
            pytest.fail("MATHFORGE_REQUIRE_SLURM=1 but no Slurm cluster answers `sinfo` (run `just slurm-up`)")
        pytest.skip("no Slurm cluster running (start one with `just slurm-up`)")


def write_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """A random LlamaForCausalLM (head_dim 64: vLLM's CPU kernels refuse 16) plus a BPE tokenizer, in HF layout."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    text = [f"Question: what is {a} + {b}? The answer is {a + b}." for a in range(40) for b in range(12)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"]))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    hf_tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(hf_tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id, tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A tiny random Llama checkpoint with tokenizer, written by the test session itself (no hub)."""
    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
