"""Tokenised training data: Parquet `text` columns -> megatron indexed datasets -> a blended GPT stream.

Each Parquet file becomes one `.bin/.idx` pair (documents end with the tokenizer's end-of-text), in
parallel worker processes; a file whose `.json` summary exists was finished and is skipped on rerun
(resumable). The stream is megatron-core's `GPTDataset`s blended by `BlendedDataset`; a source's
weight is its share of the training tokens (the paper: math 56, code 20, arXiv 10, AlgebraicStack 4,
natural language 10) and is split over its files by their token counts. Samples have a fixed length,
so sample shares are token shares; sources are up- or down-sampled as the weights demand.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mathforge.io import atomic_write_text
from mathforge.log import get_logger, progress

log = get_logger(__name__)


@dataclass
class SourceConfig:
    name: str = ""
    paths: list[Path] = field(default_factory=list)  # Parquet files or folders of them
    weight: float = 1.0  # relative share of training tokens
    text_column: str = "text"


@dataclass
class DataConfig:
    tokenizer_dir: Path = Path("runs/tokenizer")
    tokenized_dir: Path = Path("runs/tokenized")
    sources: list[SourceConfig] = field(default_factory=list)
    workers: int = 2
    seed: int = 1234


@dataclass(frozen=True)
class FileSummary:
    prefix: str  # path prefix of the .bin/.idx pair
    documents: int
    tokens: int
    skipped: int  # rows whose text was null, not a string, or empty


def parquet_files(paths: list[Path]) -> list[Path]:
    """Expand folders to their *.parquet files (sorted); a path that does not exist is an error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.parquet")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"data source path {path} does not exist")
    return files


def parquet_texts(files: list[Path], column: str = "text"):
    """Yield the non-empty string values of `column` from each file (for tokenizer training)."""
    import pyarrow.parquet as pq

    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=[column]):
            yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str) and t)


def tokenize_sources(cfg: DataConfig) -> dict[str, list[FileSummary]]:
    """Tokenise every source's Parquet files (in `cfg.workers` processes); skip files already done."""
    jobs = []
    for source in cfg.sources:
        files = parquet_files(source.paths)
        if not files:
            raise ValueError(f"data source {source.name!r}: no Parquet files under {source.paths}")
        for path in files:
            digest = hashlib.sha1(f"{path.resolve()}|bos".encode()).hexdigest()[:8]  # |bos: not the old no-BOS files
            prefix = cfg.tokenized_dir / source.name / f"{path.stem}-{digest}"
            jobs.append((source.name, str(path), str(prefix), str(cfg.tokenizer_dir), source.text_column))
    # finished files are read back here; a pool (spawn: safe beside torch threads) only for the rest
    pending = [job for job in jobs if not Path(job[2] + ".json").is_file()]
    workers = min(cfg.workers, len(pending))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    try:
        results = (map if pool is None else pool.map)(_tokenize_job, jobs)
        out: dict[str, list[FileSummary]] = {s.name: [] for s in cfg.sources}
        for (name, *_), summary in progress(zip(jobs, results, strict=True), "tokenize", total=len(jobs), unit="file"):
            out[name].append(summary)
    finally:
        if pool is not None:
            pool.shutdown()
    for name, summaries in out.items():
        skipped = sum(s.skipped for s in summaries)
        tokens = sum(s.tokens for s in summaries)
        log.info("source %s: %d files, %d tokens, %d rows skipped", name, len(summaries), tokens, skipped)
        if tokens == 0:
            raise ValueError(f"data source {name!r}: no tokens after tokenisation")
    return out


def _tokenize_job(job: tuple[str, str, str, str, str]) -> FileSummary:
    _, path, prefix, tokenizer_dir, column = job
    return tokenize_file(Path(path), Path(prefix), Path(tokenizer_dir), column)


def tokenize_file(path: Path, prefix: Path, tokenizer_dir: Path, column: str = "text") -> FileSummary:
    """One Parquet file -> `prefix.bin/.idx` + `prefix.json` (written last: marks the file done)."""
    import pyarrow.parquet as pq
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    from training.tokenizer import load_tokenizer

    summary_path = Path(f"{prefix}.json")  # stems may contain dots
    if summary_path.is_file():
        return FileSummary(**json.loads(summary_path.read_text()))
    tokenizer = load_tokenizer(tokenizer_dir)
    parquet = pq.ParquetFile(path)
    if column not in parquet.schema_arrow.names:
        raise ValueError(f"{path}: no column {column!r} (columns: {parquet.schema_arrow.names})")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tmp = prefix.with_name(f".{prefix.name}.tmp")
    dtype = np.uint16 if tokenizer.vocab_size < 65_000 else np.int32
    builder = IndexedDatasetBuilder(f"{tmp}.bin", dtype=dtype)
    documents = tokens = skipped = 0
    for batch in parquet.iter_batches(columns=[column], batch_size=1024):
        texts = batch.column(0).to_pylist()
        good = [t for t in texts if isinstance(t, str) and t]
        skipped += len(texts) - len(good)
        for ids in tokenizer.encode_batch(good):  # BOS text EOS, as the DeepSeek tokenizer frames a document
            ids = ([] if tokenizer.bos_id is None else [tokenizer.bos_id]) + ids + [tokenizer.eod]
            builder.add_document(np.asarray(ids, dtype=dtype), [len(ids)])
            documents += 1
            tokens += len(ids)
    builder.finalize(f"{tmp}.idx")
    os.replace(f"{tmp}.bin", f"{prefix}.bin")
    os.replace(f"{tmp}.idx", f"{prefix}.idx")
    summary = FileSummary(str(prefix), documents, tokens, skipped)
    atomic_write_text(summary_path, json.dumps(summary.__dict__) + "\n")
    return summary


def blend(files: dict[str, list[FileSummary]], weights: dict[str, float]) -> tuple[list[str], list[float]]:
    """Per-file weights: w_file = w_source / sum(w) * tokens_file / tokens_source (files without tokens dropped)."""
    total_weight = sum(weights[name] for name in files)
    prefixes, out = [], []
    for name, summaries in files.items():
        source_tokens = sum(s.tokens for s in summaries)
        for s in summaries:
            if s.tokens:
                prefixes.append(s.prefix)
                out.append(weights[name] / total_weight * s.tokens / source_tokens)
    return prefixes, out


class MegatronTokenizerView:
    """What megatron's GPTDataset reads from a tokenizer (it uses its own pad sentinel when `pad` is absent)."""

    def __init__(self, vocab_size: int, eod: int):
        self.vocab_size, self.eod = vocab_size, eod
        # part of the hash naming megatron's cached sample indices
        self.unique_identifiers = {"class": type(self).__name__, "vocab_size": vocab_size, "eod": eod}


def build_gpt_dataset(prefixes: list[str], weights: list[float], seq_length: int, num_samples: int,
                      vocab_size: int, eod: int, seed: int, cache_dir: Path):
    """megatron-core's blended GPT dataset with `num_samples` samples of seq_length + 1 tokens."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=seq_length,
        blend_per_split=[(prefixes, weights), None, None],  # train only
        tokenizer=MegatronTokenizerView(vocab_size, eod),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        path_to_cache=str(cache_dir),
    )
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [num_samples, None, None], lambda: True, config).build()
    return train


def sample_tokens(dataset, index: int):
    """Sample `index` as one tensor of seq_length + 1 token ids (inputs and the shifted labels)."""
    import torch

    item = dataset[index]
    return torch.cat([item["tokens"], item["labels"][-1:]])
