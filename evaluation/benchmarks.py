"""Benchmark loaders: every test set becomes a stream of `BenchmarkItem`s with a parsed gold answer.

Why one item type: prompts, grading, decontamination (corpus) and RL rewards (training) all need the
same four things, question, gold answer, reference solution and choices, whatever the source
format. Each source format has one small record parser (`record_formats`); the local files (laid out like
`shared/data/benchmarks`, see `LOCAL_BENCHMARKS`) and Hugging Face datasets by name
(`iter_hf_items`) go through the same parsers. A record that cannot be parsed is an error naming the
file, line and key: a benchmark with silently missing items would report a wrong accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evaluation.record_formats import LETTERS as LETTERS  # re-exported: prompts and grading use it
from evaluation.record_formats import RECORD_PARSERS
from evaluation.record_formats import format_number as format_number  # re-exported
from mathforge.log import get_logger

log = get_logger(__name__)

AnswerType = Literal["number", "math", "choice", "text"]
# How grading reads a number written with % (evaluation.grading): "value" 50% = 50, "fraction" 50% = 0.5,
# "either" both.
PercentRule = Literal["value", "fraction", "either"]


class BenchmarkError(ValueError):
    """A benchmark file or record that cannot be read; the message names file, line and key."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One test question with its gold answer.

    `answer` is the gold final answer as a string: a number (`"18"`, `"0.5"`, `"3:4"`), a LaTeX
    expression (`"\\frac{\\pi}{2}"`), for multiple choice the letter(s) (`"C"`, `"ABD"`), in
    which case `choices` holds the option texts in letter order, or a short text (`"Alex"`).
    `answer_type` tells grading which rules apply: number, math (symbolic), choice or text (exact);
    `percent` how a number written with % compares (the benchmark's convention, `PercentRule`).
    """

    benchmark: str
    item_id: str
    question: str
    answer: str
    solution: str | None = None
    choices: tuple[str, ...] = ()
    lang: str = "en"
    answer_type: AnswerType = "math"
    percent: PercentRule = "either"


@dataclass(frozen=True)
class LocalBenchmark:
    path: str  # relative to the benchmarks root
    fmt: str  # key in RECORD_PARSERS
    lang: str
    # Word-problem sets state percentages as the bare number ("What percent ...?" gold 50): "value".
    # Sets that write golds both ways (MATH: "25\\%" and "25") or were not checked: "either".
    percent: PercentRule = "either"


# name -> where the test set lies under a root laid out like shared/data/benchmarks.
LOCAL_BENCHMARKS: dict[str, LocalBenchmark] = {
    "gsm8k": LocalBenchmark("gsm8k/test.jsonl", "gsm8k_ds", "en", "value"),
    "math": LocalBenchmark("math/test.jsonl", "math", "en"),
    "math500": LocalBenchmark("math500/test.jsonl", "math500", "en"),
    "cmath": LocalBenchmark("cmath/test.jsonl", "cmath", "zh"),
    "mgsm_zh": LocalBenchmark("mgsm_zh/mgsm_zh.jsonl", "mgsm_messages", "zh", "value"),
    "svamp": LocalBenchmark("svamp/test.jsonl", "svamp", "en", "value"),
    "asdiv": LocalBenchmark("asdiv/test.jsonl", "asdiv", "en", "value"),
    "mawps": LocalBenchmark("mawps/test.jsonl", "mawps", "en", "value"),
    "mmlu_stem": LocalBenchmark("mmlu_stem/test.jsonl", "mmlu", "en"),
    "gaokao_mathcloze": LocalBenchmark("agieval/gaokao-mathcloze.jsonl", "agieval_cloze", "zh"),
    "gaokao_mathqa": LocalBenchmark("agieval/gaokao-mathqa.jsonl", "agieval_qa", "zh"),
    "ocw": LocalBenchmark("ocw/test.jsonl", "ocw", "en"),
    "sat": LocalBenchmark("sat/test.jsonl", "sat", "en"),
    "aqua": LocalBenchmark("aqua/test.jsonl", "aqua", "en"),
    "mathqa": LocalBenchmark("mathqa/test.jsonl", "mathqa", "en"),
    "gsm_hard": LocalBenchmark("gsm_hard/test.jsonl", "gsm_hard", "en", "value"),
    "aime24": LocalBenchmark("aime24/test.jsonl", "aime", "en", "value"),
    "amc23": LocalBenchmark("amc23/test.jsonl", "amc", "en", "value"),
    "gaokao2023en": LocalBenchmark("gaokao2023en/test.jsonl", "question_answer", "en"),
    # the unit (e.g. "%") is a separate field, the gold is the bare number: "value"
    "olympiadbench": LocalBenchmark("olympiadbench/test.jsonl", "olympiadbench", "en", "value"),
    "gaokao2024_I": LocalBenchmark("gaokao2024_I/test.jsonl", "gaokao2024", "zh"),
    "gaokao2024_II": LocalBenchmark("gaokao2024_II/test.jsonl", "gaokao2024", "zh"),
    "gaokao2024_mix": LocalBenchmark("gaokao2024_mix/test.jsonl", "choice_answer", "zh"),
    "cn_middle_school": LocalBenchmark("cn_middle_school/test.jsonl", "choice_answer", "zh"),
    "carp_en": LocalBenchmark("carp_en/test.jsonl", "carp", "en"),
    # Not here: minif2f (theorems to prove, no final answer); college_math (11% of its golds are prose or
    # derivations, and math-verify accepts wrong equation-form answers, e.g. `\\log_5(8)=\\frac{4}{2}` for
    # `\\log_4(8)=\\frac{3}{2}`: its grades would not be trustworthy yet).
}

# name -> (Hugging Face dataset path, config, split, record format). Only used when asked for by name.
HF_BENCHMARKS: dict[str, tuple[str, str | None, str, str]] = {
    "gsm8k": ("openai/gsm8k", "main", "test", "gsm8k"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test", "math500"),
    "cmath": ("weitianwen/cmath", None, "test", "cmath"),
    "mmlu_stem": ("cais/mmlu", "all", "test", "mmlu"),
}


def parse_records(
    records: Iterable[dict], benchmark: str, fmt: str, lang: str, source: str, skipped: list[str] | None = None,
    percent: PercentRule | None = None,
) -> Iterator[BenchmarkItem]:
    """Turn raw records into items with `RECORD_PARSERS[fmt]`; errors name `source`, record number and key.

    A record without a gold answer is skipped, logged, and its reason appended to `skipped`.
    `percent`: the benchmark's percent rule; by default the one in `LOCAL_BENCHMARKS`, else "either".
    """
    if percent is None:
        percent = LOCAL_BENCHMARKS[benchmark].percent if benchmark in LOCAL_BENCHMARKS else "either"
    if fmt not in RECORD_PARSERS:
        raise BenchmarkError(f"{source}: unknown record format {fmt!r} (known: {', '.join(sorted(RECORD_PARSERS))})")
    parser = RECORD_PARSERS[fmt]
    for index, record in enumerate(records):
        where = f"{source}: record {index + 1}"
        if not isinstance(record, dict):
            raise BenchmarkError(f"{where}: expected a JSON object, got {type(record).__name__}")
        try:
            parsed = parser(record)
        except KeyError as exc:
            raise BenchmarkError(f"{where}: missing key {exc.args[0]!r}") from exc
        except (TypeError, ValueError, IndexError) as exc:
            raise BenchmarkError(f"{where}: {exc}") from exc
        item_id = parsed.pop("item_id", None)
        item_id = str(index if item_id is None else item_id)
        item_id = item_id if item_id.startswith(benchmark) else f"{benchmark}-{item_id}"
        if not str(parsed["answer"]).strip():
            # A few upstream records carry no gold at all: they cannot be graded, so skip and count.
            log.warning("%s: empty gold answer, skipped", where)
            if skipped is not None:
                skipped.append(f"{where}: empty gold answer")
            continue
        yield BenchmarkItem(benchmark=benchmark, item_id=item_id, lang=lang, percent=percent, **parsed)


def read_jsonl(path: Path) -> Iterator[dict]:
    """JSON objects, one a line; a bad line is an error naming file and line."""
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{path}:{lineno}: not valid JSON: {exc}") from exc


def load_jsonl_benchmark(
    path: Path, benchmark: str, fmt: str, lang: str = "en", skipped: list[str] | None = None
) -> list[BenchmarkItem]:
    """Items of one JSONL file in record format `fmt` (e.g. a GSM8K/MATH train split kept locally)."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: benchmark file not found")
    return list(parse_records(read_jsonl(path), benchmark, fmt, lang, source=str(path), skipped=skipped))


def iter_benchmark_items(
    root: Path, names: list[str] | None = None, skipped: list[str] | None = None
) -> Iterator[BenchmarkItem]:
    """Every item of the named local benchmarks (all of `LOCAL_BENCHMARKS` when `names` is None).

    `root` is a folder laid out like shared/data/benchmarks. With `names=None`, benchmarks whose file
    is absent are skipped; a name asked for explicitly whose file is absent is an error.
    """
    root = Path(root)
    unknown = sorted(set(names or ()) - set(LOCAL_BENCHMARKS))
    if unknown:
        raise BenchmarkError(f"unknown benchmark(s) {unknown} (known: {', '.join(LOCAL_BENCHMARKS)})")
    for name in names if names is not None else list(LOCAL_BENCHMARKS):
        spec = LOCAL_BENCHMARKS[name]
        path = root / spec.path
        if names is None and not path.is_file():
            continue
        yield from load_jsonl_benchmark(path, name, spec.fmt, spec.lang, skipped=skipped)


def iter_hf_items(
    name: str,
    *,
    path: str | None = None,
    config: str | None = None,
    split: str | None = None,
    fmt: str | None = None,
    lang: str = "en",
    data_files: str | list[str] | None = None,
) -> Iterator[BenchmarkItem]:
    """Items of a Hugging Face dataset, by name (`HF_BENCHMARKS`) or explicit path/config/split/format.

    `datasets.load_dataset(path, config, split=split, data_files=data_files)`: a hub name needs the
    network (or a populated HF cache); `path="json", data_files=...` reads local files the same way.
    """
    import datasets  # heavy; only for this path

    hub_path, hub_config, hub_split, hub_fmt = HF_BENCHMARKS.get(name, (None, None, "test", None))
    path, config = path or hub_path, config if path else (config or hub_config)
    split, fmt = split or hub_split, fmt or hub_fmt
    if path is None or fmt is None:
        raise BenchmarkError(f"benchmark {name!r}: not in HF_BENCHMARKS; give path= and fmt=")
    dataset = datasets.load_dataset(path, config, split=split, data_files=data_files)
    yield from parse_records(iter(dataset), name, fmt, lang, source=f"hf:{path}/{config or ''}:{split}")
