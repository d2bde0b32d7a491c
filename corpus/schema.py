"""The two Parquet outputs of the corpus stage, their schemas, and a writer that never leaves half a file.

extracted/ (the reusable text cache: later rounds re-score it without re-parsing HTML)
  id str (WARC-Record-ID) · url str · domain str · date str · text str (formulas as $…$/$$…$$)
  lang str (en/zh/...) · source_file str · source_offset int64 (byte offset of the WARC record)
  boilerplate_ratio float · math_elements int32 (math nodes rewritten by the extractor)
dropped/<filter>/ (only with write_dropped = true: what each filter removed, for inspection)
  id · url · reason (the filter's drop reason) · math_score (when scored) · text
corpus/round-<r>/ (the selected, decontaminated math corpus; zstd)
  id · url · domain · text · math_score float (fastText P(math)) · lang · token_estimate int64
  source_file · source_offset · round int32
"""

from __future__ import annotations

import os
import re

import pyarrow as pa
from datatrove.pipeline.writers import ParquetWriter

EXTRACTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("domain", pa.string()), ("date", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("source_file", pa.string()), ("source_offset", pa.int64()),
    ("boilerplate_ratio", pa.float64()), ("math_elements", pa.int32()),
])
CORPUS_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("domain", pa.string()), ("text", pa.string()),
    ("math_score", pa.float64()), ("lang", pa.string()), ("token_estimate", pa.int64()),
    ("source_file", pa.string()), ("source_offset", pa.int64()), ("round", pa.int32()),
])
DROPPED_SCHEMA = pa.schema([("id", pa.string()), ("url", pa.string()), ("reason", pa.string()),
                            ("math_score", pa.float64()), ("text", pa.string())])
HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
TMP_DIR = "_tmp"


def estimate_tokens(text: str) -> int:
    """~1 token per Han character plus ~1 per 4 other characters (BPE tokenisers on EN/ZH web text)."""
    han = len(HAN_RE.findall(text))
    return han + (len(text) - han + 3) // 4


def extracted_row(self, doc) -> dict:
    m = doc.metadata
    return {"id": doc.id, "url": m.get("url", ""), "domain": m.get("domain", ""), "date": m.get("date"),
            "text": doc.text, "lang": m.get("lang", ""), "source_file": m.get("source_file", m.get("file_path", "")),
            "source_offset": m.get("source_offset"), "boilerplate_ratio": m.get("boilerplate_ratio"),
            "math_elements": m.get("math_elements")}


def corpus_row(self, doc) -> dict:
    m = doc.metadata
    return {"id": doc.id, "url": m.get("url", ""), "domain": m.get("domain", ""), "text": doc.text,
            "math_score": m["math_score"], "lang": m.get("lang", ""), "token_estimate": estimate_tokens(doc.text),
            "source_file": m.get("source_file", ""), "source_offset": m.get("source_offset"),
            "round": self.extra["round"]}


def dropped_row(self, doc) -> dict:
    m = doc.metadata
    return {"id": doc.id, "url": m.get("url", ""), "reason": m.get("filter_reason", ""),
            "math_score": m.get("math_score"), "text": doc.text}


class AtomicParquetWriter(ParquetWriter):
    """datatrove's ParquetWriter that writes into `_tmp/` and renames each file into place once closed.

    A task killed mid-way leaves only a `_tmp/` file, which its rerun overwrites: readers of the
    folder never see a truncated Parquet file, and the rerun's output equals an uninterrupted run's.
    """

    def __init__(self, output_folder, schema: pa.Schema, adapter, compression: str = "zstd", extra: dict | None = None):
        super().__init__(output_folder, output_filename=f"{TMP_DIR}/${{rank}}.parquet", compression=compression,
                         adapter=adapter, schema=schema, max_file_size=-1)
        self.extra = extra or {}  # constant columns the adapter reads (e.g. round)

    def close_file(self, filename):
        super().close_file(filename)
        final = filename.removeprefix(f"{TMP_DIR}/")
        src, dst = self.output_folder.resolve_paths(filename), self.output_folder.resolve_paths(final)
        if self.output_folder.isfile(filename):
            if "://" in src:  # remote filesystems: a copy-then-delete move
                self.output_folder.mv(filename, final)
            else:
                os.replace(src, dst)
