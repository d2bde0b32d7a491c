"""One SFT example schema, stored as Parquet: a conversation (messages) in one of three solution
formats, with its language, source and gold answer.

  id        str   unique within a dataset ("gsm8k-train-17", "synthetic-3-41-zh", ...)
  messages  list<struct<role: str, content: str>>   user / assistant turns (a system turn allowed first)
  lang      str   "en" | "zh"
  format    str   "cot" | "pot" | "tool"
  source    str   where it came from (a converter's name)
  answer    str   the gold final answer (what the build grades the solution against)

`read_examples` checks every row and names the file and row of the first bad one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mathforge.io import atomic_path

LANGS = ("en", "zh")
FORMATS = ("cot", "pot", "tool")
ROLES = ("system", "user", "assistant")
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema([("id", pa.string()), ("messages", pa.list_(MESSAGE)), ("lang", pa.string()),
                    ("format", pa.string()), ("source", pa.string()), ("answer", pa.string())])


class RecordError(ValueError):
    """A malformed input record; the message names the file and line (or row) and what is wrong."""


@dataclass(frozen=True)
class SFTExample:
    id: str
    messages: tuple[dict[str, str], ...]
    lang: str
    format: str
    source: str
    answer: str

    def check(self) -> None:
        """Raise ValueError (what is wrong) unless this is a well-formed example."""
        if not self.id:
            raise ValueError("empty id")
        if self.lang not in LANGS or self.format not in FORMATS:
            raise ValueError(f"lang {self.lang!r} / format {self.format!r} not in {LANGS} / {FORMATS}")
        roles = [m.get("role") for m in self.messages]
        if any(role not in ROLES for role in roles) or "system" in roles[1:]:
            raise ValueError(f"roles {roles}: user/assistant turns, a system turn only first")
        turns = [r for r in roles if r != "system"]
        if not turns or turns[-1] != "assistant" or any(r == turns[i - 1] for i, r in enumerate(turns) if i):
            raise ValueError(f"roles {roles}: turns must alternate and end with the assistant")
        if any(not isinstance(m.get("content"), str) or not m["content"].strip() for m in self.messages):
            raise ValueError("a message has no text")

    @property
    def question(self) -> str:
        return next(m["content"] for m in self.messages if m["role"] == "user")

    @property
    def solution(self) -> str:
        return self.messages[-1]["content"]

    def with_solution(self, solution: str) -> SFTExample:
        messages = (*self.messages[:-1], {"role": "assistant", "content": solution})
        return SFTExample(self.id, messages, self.lang, self.format, self.source, self.answer)

    def to_row(self) -> dict:
        return {"id": self.id, "messages": [dict(m) for m in self.messages], "lang": self.lang,
                "format": self.format, "source": self.source, "answer": self.answer}


def write_examples(path: str | Path, examples: Iterable[SFTExample]) -> int:
    """Write atomically (a reader never sees half a file); returns the number of rows."""
    rows = [e.to_row() for e in examples]
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp, compression="zstd")
    return len(rows)


def read_examples(path: str | Path) -> Iterator[SFTExample]:
    """Every example of one Parquet file, checked; RecordError names the file and row of a bad one."""
    path = Path(path)
    table = pq.read_table(path)
    missing = set(SCHEMA.names) - set(table.column_names)
    if missing:
        raise RecordError(f"{path}: not an SFT example file, columns {sorted(missing)} missing")
    for row_number, row in enumerate(table.select(SCHEMA.names).to_pylist()):
        example = SFTExample(row["id"], tuple(row["messages"] or ()), row["lang"], row["format"], row["source"],
                             row["answer"] or "")
        try:
            example.check()
        except ValueError as exc:
            raise RecordError(f"{path}: row {row_number} (id {row['id']!r}): {exc}") from None
        yield example


def example_files(path: str | Path) -> list[Path]:
    """A Parquet file, or the *.parquet files under a folder (sorted)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no SFT example Parquet files at {path}")
    return files
