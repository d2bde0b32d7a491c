"""Both shipped corpus configs load; a bad key names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.config import CorpusRunConfig
from mathforge.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["tiny", "deepseekmath-7b"])
def test_configs_load(name):
    cfg = load_config(CorpusRunConfig, CONFIGS / name / "corpus.toml")
    assert cfg.classifier.dim == 256 and cfg.classifier.word_ngrams == 3 and cfg.classifier.min_count == 3
    assert cfg.decontam.ngram == 10


def test_paper_values():
    cfg = load_config(CorpusRunConfig, CONFIGS / "deepseekmath-7b" / "corpus.toml")
    assert (cfg.classifier.positives, cfg.classifier.negatives, cfg.classifier.bucket) == (500_000, 500_000, 2_000_000)
    assert cfg.executor.kind == "slurm"


def test_bad_key_is_named():
    with pytest.raises(ConfigError, match="classifier.dimm"):
        load_config(CorpusRunConfig, CONFIGS / "tiny" / "corpus.toml", ["classifier.dimm=3"])


def test_cli_parses_commands():
    import argparse

    from corpus.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser)
    args = parser.parse_args(["run", "configs/tiny/corpus.toml", "round=2"])
    assert args.func.__name__ == "run_corpus" and args.overrides == ["round=2"]
