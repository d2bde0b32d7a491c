"""Exact URL dedup and MinHash near-dedup of the text cache before recall round 1 (the paper's first step).

Both are datatrove's own dedup steps, run as six datatrove stages over `extracted/`:
  url-signatures   ExactDedupSignature on the normalised URL            (tasks)
  url-find         ExactFindDedups                                      (1 task)
  minhash-sigs     ExactDedupFilter(url) -> MinhashDedupSignature       (tasks)
  minhash-buckets  MinhashDedupBuckets                                  (num_buckets tasks)
  minhash-cluster  MinhashDedupCluster                                  (1 task)
  write            ExactDedupFilter(url) -> MinhashDedupFilter -> deduped/  (tasks)
Stages that read the cache read it with the same reader and task count, so a document's index in its
task is the same in every stage (datatrove's dedup steps address documents by that index).
What we add: the URL normalisation and a word tokenizer that works offline on EN and ZH (datatrove's
default for "en" is spaCy's, which this stack does not install; a CJK character is one word here).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from datatrove.utils.word_tokenizers import WordTokenizer

from corpus.config import CorpusRunConfig, DedupConfig

WORD_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W_]+", re.UNICODE)
SENTENCE_RE = re.compile(r"[^.!?。！？\n]+[.!?。！？\n]*")


def normalized_url(doc) -> str:
    """Scheme and host lower-cased, default port and fragment dropped: the key of exact URL dedup."""
    url = doc.metadata.get("url", "")
    try:
        p = urlsplit(url.strip())
        netloc = (p.hostname or "") + (f":{p.port}" if p.port and p.port not in (80, 443) else "")
    except ValueError:
        return url
    return urlunsplit((p.scheme.lower(), netloc, p.path or "/", p.query, ""))


class MixedScriptTokenizer(WordTokenizer):
    """Words = runs of letters/digits; each CJK character is a word (MinHash shingles over EN and ZH)."""

    def __init__(self):
        super().__init__("mixed")

    def word_tokenize(self, text: str) -> list[str]:
        return WORD_RE.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s.strip() for s in SENTENCE_RE.findall(text) if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in SENTENCE_RE.finditer(text) if m.group().strip()]


def _url_config():
    from datatrove.pipeline.dedup import ExactDedupConfig

    return ExactDedupConfig(content_getter=normalized_url)


def _minhash_config(cfg: DedupConfig):
    from datatrove.pipeline.dedup import MinhashConfig

    return MinhashConfig(n_grams=cfg.n_grams, num_buckets=cfg.num_buckets, hashes_per_bucket=cfg.hashes_per_bucket,
                         seed=cfg.seed)


def dedup_stages(cfg: CorpusRunConfig, extracted: Path, out: Path, work: Path) -> list[tuple[str, list, int]]:
    """(stage name, pipeline, tasks) in run order; `out` receives the deduplicated cache."""
    from datatrove.pipeline.dedup import (
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader

    from corpus.schema import EXTRACTED_SCHEMA, AtomicParquetWriter, extracted_row

    tasks, d = cfg.executor.tasks, cfg.dedup

    def reader():
        return ParquetReader(str(extracted), glob_pattern="*.parquet")

    url_filter = [ExactDedupFilter(str(work / "url_dups"), _url_config())] if d.url else []
    stages: list[tuple[str, list, int]] = []
    if d.url:
        stages += [("url-signatures", [reader(), ExactDedupSignature(str(work / "url_sigs"), _url_config())], tasks),
                   ("url-find", [ExactFindDedups(str(work / "url_sigs"), str(work / "url_dups"), _url_config())], 1)]
    final = [reader(), *url_filter]
    if d.minhash:
        mh = _minhash_config(d)
        stages += [
            ("minhash-sigs", [reader(), *url_filter,
                              MinhashDedupSignature(str(work / "mh_sigs"), mh, language=MixedScriptTokenizer())], tasks),
            ("minhash-buckets", [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"), config=mh)],
             d.num_buckets),
            ("minhash-cluster", [MinhashDedupCluster(str(work / "mh_buckets"), str(work / "mh_remove"), config=mh)], 1),
        ]
        final.append(MinhashDedupFilter(str(work / "mh_remove")))
    final.append(AtomicParquetWriter(str(out), EXTRACTED_SCHEMA, extracted_row))
    return stages + [("write", final, tasks)]


def run_dedup(cfg: CorpusRunConfig, extracted: Path, out: Path, work: Path, logs: Path) -> dict[str, int]:
    """Run every dedup stage (each resumable through datatrove's completions); returns the counts."""
    from corpus.pipeline import run_stage, stage_counts

    for name, pipeline, tasks in dedup_stages(cfg, extracted, out, work):
        stage_cfg = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, tasks=tasks))
        run_stage(pipeline, stage_cfg, logs / f"dedup-{name}", f"dedup-{name}")
    counts = stage_counts(logs / "dedup-write")
    url = next((v for k, v in counts.items() if "exact-deduplication" in k), {})
    near = next((v for k, v in counts.items() if "MinHash" in k), {})
    read = next((v for k, v in counts.items() if "READER" in k), {})
    return {"pages_in": read.get("documents", 0), "url_duplicates": url.get("dropped", 0),
            "near_duplicates": near.get("dropped", 0),
            "pages_out": (near or url).get("forwarded", read.get("documents", 0))}
