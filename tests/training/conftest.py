"""Fixtures for the training tests: a one-process megatron world (gloo) and a tiny model config."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.demo import run_demo_stage, synthetic_math_texts
from training.model import ModelConfig
from training.parallel import ParallelConfig, distributed
from training.tokenizer import train_bpe


@pytest.fixture
def megatron_world():
    """torch.distributed (world of one, gloo on CPU) + megatron parallel_state, torn down afterwards."""
    with distributed(ParallelConfig(), seed=1234):
        yield


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    return ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=256, vocab_size=256, seq_length=32)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """600 generated arithmetic documents in one Parquet file, and a BPE tokenizer trained on them."""
    root = tmp_path_factory.mktemp("corpus")
    texts = synthetic_math_texts(600, seed=1)
    pq.write_table(pa.table({"text": texts}), root / "part0.parquet")
    train_bpe(texts, 512, root / "tokenizer")
    return root


@pytest.fixture
def run_overrides(corpus):
    """`key=value` overrides of configs/tiny/pretrain.toml that train on `corpus` into `run_dir`."""

    def make(run_dir: Path, tokenized: Path, *extra: str) -> list[str]:
        source = f'[{{name = "math", paths = ["{corpus}"], weight = 1.0}}]'
        return [
            f'data.tokenizer_dir="{corpus / "tokenizer"}"', f'data.tokenized_dir="{tokenized}"',
            f"data.sources={source}", f'train.run_dir="{run_dir}"', "data.workers=1", "train.export_hf=false",
            *extra,
        ]

    return make


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, corpus) -> tuple[Path, dict]:
    """The demo stage run once on a corpus folder of Parquet shards (30 steps): its folder and summary."""
    root = tmp_path_factory.mktemp("demo")
    return root, run_demo_stage(root, corpus_dir=corpus, steps=30)


def load_worker(path: Path) -> ModuleType:
    """A torchrun worker script imported by path as a module (works under every pytest import mode; the
    test imports the same file that torchrun runs). Test modules import it from `tests.training.conftest`."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
