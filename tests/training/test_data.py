"""Parquet -> indexed datasets (parallel, resumable, bad rows counted) -> blended stream with the
paper's token shares."""

from __future__ import annotations

import collections
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.data import DataConfig, SourceConfig, blend, build_gpt_dataset, sample_tokens, tokenize_sources
from training.tokenizer import train_bpe

PAPER = {"math": 56, "code": 20, "arxiv": 10, "algebraic_stack": 4, "natural_language": 10}


def _write(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), path)


@pytest.fixture
def corpus(tmp_path):
    """Five sources of very different sizes, one split over two files, with some bad rows."""
    sizes = {"math": 30, "code": 200, "arxiv": 15, "algebraic_stack": 60, "natural_language": 120}
    for name, n in sizes.items():
        texts = [f"{name} document {i}: " + " ".join(f"{name}{j % 7}" for j in range(20 + i % 13)) for i in range(n)]
        _write(tmp_path / "corpus" / name / "part0.parquet", texts[: n // 2])
        _write(tmp_path / "corpus" / name / "part1.parquet", texts[n // 2 :] + [None, ""])
    train_bpe((f"{n} document 1: {n}3" for n in sizes for _ in range(20)), 400, tmp_path / "tok")
    sources = [SourceConfig(name=n, paths=[tmp_path / "corpus" / n], weight=w) for n, w in PAPER.items()]
    return DataConfig(tokenizer_dir=tmp_path / "tok", tokenized_dir=tmp_path / "tokenized", sources=sources, workers=2)


@pytest.mark.timeout(120)
def test_tokenize_is_parallel_resumable_and_counts_bad_rows(corpus):
    files = tokenize_sources(corpus)
    assert {n: len(s) for n, s in files.items()} == {n: 2 for n in PAPER}
    assert sum(s.skipped for s in files["code"]) == 2  # one null, one empty string
    assert sum(s.documents for s in files["code"]) == 200
    done = files["math"][0].prefix + ".bin"
    mtime = os.stat(done).st_mtime_ns
    os.remove(files["math"][1].prefix + ".json")  # as if killed before this file finished
    corpus.workers = 1
    again = tokenize_sources(corpus)
    assert again == files
    assert os.stat(done).st_mtime_ns == mtime  # finished files are not redone


def test_missing_column_names_the_file(corpus, tmp_path):
    _write(tmp_path / "bad" / "x.parquet", ["a"])
    pq.write_table(pa.table({"content": ["a"]}), tmp_path / "bad" / "x.parquet")
    corpus.sources = [SourceConfig(name="bad", paths=[tmp_path / "bad"], weight=1.0)]
    corpus.workers = 1
    with pytest.raises(ValueError, match=r"x\.parquet: no column 'text'"):
        tokenize_sources(corpus)


@pytest.mark.timeout(120)
def test_blended_stream_reaches_the_paper_token_shares(megatron_world, corpus, tmp_path):
    corpus.workers = 1
    files = tokenize_sources(corpus)
    prefixes, weights = blend(files, {n: float(w) for n, w in PAPER.items()})
    source_of = {s.prefix: name for name, summaries in files.items() for s in summaries}
    n = 20_000
    ds = build_gpt_dataset(prefixes, weights, seq_length=16, num_samples=n, vocab_size=400, eod=1, seed=7,
                           cache_dir=tmp_path / "cache")
    counts = collections.Counter(source_of[prefixes[ds[i]["dataset_id"]]] for i in range(n))
    total = sum(PAPER.values())
    for name, w in PAPER.items():
        assert abs(counts[name] / n - w / total) < 0.01, (name, counts[name] / n)
    assert sample_tokens(ds, 0).shape == (17,)
