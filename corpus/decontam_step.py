"""Decontamination as a datatrove filter, plus building its index from the configured benchmarks.

Benchmark items come from `evaluation.benchmarks` (local folders laid out like
shared/data/benchmarks, single JSONL files, Hugging Face datasets); each item gives its question
(also matched exactly when short), answer and, with `index_solutions`, solution to the index
(corpus.decontaminate).
Removed documents are listed in an audit log: audit/<rank>.parquet with doc_id, url, benchmark,
item_id, ngram (the matched span of the normalised document) and kind ("ngram" or "exact").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.filters.base_filter import BaseFilter

from corpus.config import DecontamConfig
from corpus.decontaminate import BenchmarkText, NGramIndex, build_index, find_contamination
from mathforge.config import ConfigError
from mathforge.io import atomic_path

AUDIT_SCHEMA = pa.schema([("doc_id", pa.string()), ("url", pa.string()), ("benchmark", pa.string()),
                          ("item_id", pa.string()), ("ngram", pa.string()), ("kind", pa.string())])


def benchmark_items(cfg: DecontamConfig) -> Iterator:
    """Every configured benchmark item (evaluation.benchmarks.BenchmarkItem)."""
    from evaluation import benchmarks as eb

    if cfg.benchmarks_root:
        root = Path(cfg.benchmarks_root)
        if not root.is_dir():
            raise ConfigError(f"decontam.benchmarks_root: folder not found: {root}")
        yield from eb.iter_benchmark_items(root, cfg.benchmarks or None)
    for j in cfg.jsonl:
        yield from eb.load_jsonl_benchmark(Path(j.path), j.name, j.fmt, j.lang)
    for h in cfg.hf:
        yield from eb.iter_hf_items(h.name, path=h.path or None, config=h.config or None, split=h.split or None,
                                    fmt=h.fmt or None, lang=h.lang, data_files=h.data_files or None)


def item_texts(items, solutions: bool = True) -> Iterator[BenchmarkText]:
    """Question (exact-match eligible), answer and (when `solutions`) solution of each item, as index inputs."""
    for it in items:
        yield BenchmarkText(it.benchmark, it.item_id, it.question, exact=True)
        for text in (it.answer, it.solution if solutions else None):
            if text:
                yield BenchmarkText(it.benchmark, it.item_id, str(text), exact=False)


def build_decontam_index(cfg: DecontamConfig, path: str | Path) -> dict:
    """Build and save the index (atomically); returns counts per benchmark."""
    per_bench: Counter[str] = Counter()

    def counted(items):
        for it in items:
            per_bench[it.benchmark] += 1
            yield it

    index = build_index(item_texts(counted(benchmark_items(cfg)), cfg.index_solutions), n=cfg.ngram,
                        min_ngram=cfg.min_ngram, min_chars=cfg.min_chars)
    with atomic_path(path) as tmp:
        index.save(tmp)
    return {"items": dict(per_bench), "ngrams": int(len(index.hashes)),
            "exact_questions": {str(k): int(len(v[0])) for k, v in index.exact.items()}}


class Decontaminator(BaseFilter):
    """Drops documents containing a benchmark n-gram (reason: contaminated) and writes the audit log."""

    name = "🧪 decontamination"

    def __init__(self, index_path: str | Path, audit_dir: str | Path, batch_size: int = 512, exclusion_writer=None):
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.index_path = str(index_path)
        self.audit_dir = str(audit_dir)
        self._index: NGramIndex | None = None
        self._audit: list[dict] = []

    def filter(self, doc):
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch):
        if self._index is None:
            self._index = NGramIndex.load(self.index_path)
        results: list = [True] * len(batch)
        for m in find_contamination([d.text for d in batch], self._index):
            bench, item = self._index.items[m.item]
            doc = batch[m.doc]
            self._audit.append({"doc_id": doc.id, "url": doc.metadata.get("url", ""), "benchmark": bench,
                                "item_id": item, "ngram": m.ngram, "kind": m.kind})
            results[m.doc] = (False, "contaminated")
        return results

    def run(self, data, rank: int = 0, world_size: int = 1):
        self._audit = []
        yield from super().run(data, rank, world_size)
        with atomic_path(Path(self.audit_dir) / f"{rank:05d}.parquet") as tmp:
            pq.write_table(pa.Table.from_pylist(self._audit, schema=AUDIT_SCHEMA), tmp, compression="zstd")
