"""Benchmark loaders: every test set becomes a stream of `BenchmarkItem`s with a parsed gold answer.

Why one item type: prompts, grading, decontamination (corpus) and RL rewards (training) all need the
same four things, question, gold answer, reference solution and choices, whatever the source
format. Each source format has one small record parser; the local files (laid out like
`shared/data/benchmarks`, see `LOCAL_BENCHMARKS`) and Hugging Face datasets by name
(`iter_hf_items`) go through the same parsers. A record that cannot be parsed is an error naming the
file, line and key: a benchmark with silently missing items would report a wrong accuracy.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evaluation.answers import last_boxed
from evaluation.normalize import parse_number
from mathforge.log import get_logger

log = get_logger(__name__)

AnswerType = Literal["number", "math", "choice", "text"]
LETTERS = "ABCDEFGHIJ"


class BenchmarkError(ValueError):
    """A benchmark file or record that cannot be read; the message names file, line and key."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One test question with its gold answer.

    `answer` is the gold final answer as a string: a number (`"18"`, `"0.5"`, `"3:4"`), a LaTeX
    expression (`"\\frac{\\pi}{2}"`), for multiple choice the letter(s) (`"C"`, `"ABD"`), in
    which case `choices` holds the option texts in letter order, or a short text (`"Alex"`).
    `answer_type` tells grading which rules apply: number, math (symbolic), choice or text (exact).
    """

    benchmark: str
    item_id: str
    question: str
    answer: str
    solution: str | None = None
    choices: tuple[str, ...] = ()
    lang: str = "en"
    answer_type: AnswerType = "math"


@dataclass(frozen=True)
class LocalBenchmark:
    path: str  # relative to the benchmarks root
    fmt: str  # key in RECORD_PARSERS
    lang: str


# name -> where the test set lies under a root laid out like shared/data/benchmarks.
LOCAL_BENCHMARKS: dict[str, LocalBenchmark] = {
    "gsm8k": LocalBenchmark("gsm8k/test.jsonl", "gsm8k_ds", "en"),
    "math": LocalBenchmark("math/test.jsonl", "math", "en"),
    "math500": LocalBenchmark("math500/test.jsonl", "math500", "en"),
    "cmath": LocalBenchmark("cmath/test.jsonl", "cmath", "zh"),
    "mgsm_zh": LocalBenchmark("mgsm_zh/mgsm_zh.jsonl", "mgsm_messages", "zh"),
    "svamp": LocalBenchmark("svamp/test.jsonl", "svamp", "en"),
    "asdiv": LocalBenchmark("asdiv/test.jsonl", "asdiv", "en"),
    "mawps": LocalBenchmark("mawps/test.jsonl", "mawps", "en"),
    "mmlu_stem": LocalBenchmark("mmlu_stem/test.jsonl", "mmlu", "en"),
    "gaokao_mathcloze": LocalBenchmark("agieval/gaokao-mathcloze.jsonl", "agieval_cloze", "zh"),
    "gaokao_mathqa": LocalBenchmark("agieval/gaokao-mathqa.jsonl", "agieval_qa", "zh"),
    "ocw": LocalBenchmark("ocw/test.jsonl", "ocw", "en"),
    "sat": LocalBenchmark("sat/test.jsonl", "sat", "en"),
    "aqua": LocalBenchmark("aqua/test.jsonl", "aqua", "en"),
    "mathqa": LocalBenchmark("mathqa/test.jsonl", "mathqa", "en"),
    "gsm_hard": LocalBenchmark("gsm_hard/test.jsonl", "gsm_hard", "en"),
    "aime24": LocalBenchmark("aime24/test.jsonl", "aime", "en"),
    "amc23": LocalBenchmark("amc23/test.jsonl", "amc", "en"),
    "gaokao2023en": LocalBenchmark("gaokao2023en/test.jsonl", "question_answer", "en"),
}

# name -> (Hugging Face dataset path, config, split, record format). Only used when asked for by name.
HF_BENCHMARKS: dict[str, tuple[str, str | None, str, str]] = {
    "gsm8k": ("openai/gsm8k", "main", "test", "gsm8k"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test", "math500"),
    "cmath": ("weitianwen/cmath", None, "test", "cmath"),
    "mmlu_stem": ("cais/mmlu", "all", "test", "mmlu"),
}


def format_number(value: Any) -> str:
    """`145.0` -> "145", `1.84` -> "1.84", `"1,200"` -> "1200": gold numbers as plain strings."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value).strip().replace(",", "")
    try:
        return format_number(float(text)) if re.fullmatch(r"-?\d+\.0+", text) else text
    except ValueError:
        return text


def _field(rec: dict[str, Any], key: str) -> Any:
    if key not in rec or rec[key] is None:
        raise KeyError(key)
    return rec[key]


def _letter_options(options: list[str]) -> tuple[str, ...]:
    """["(A)x", "B) y", "c ) z"] -> ("x", "y", "z"): option texts without their letter labels."""
    return tuple(re.sub(r"^\s*\(?[A-Ja-j]\s*\)\s*", "", str(o)).strip() for o in options)


def _split_inline_options(text: str) -> list[str]:
    """"A) 1 B) 2 C) 3", "A. 1 B. 2" or "a ) 1 , b ) 2" -> ["1", "2", ...]: labels found in letter order."""
    starts: list[tuple[int, int]] = []
    pos = 0
    for letter in LETTERS:
        label = re.compile(rf"(?:^|(?<=[\s,]))\(?[{letter}{letter.lower()}]\s*[).]\s*")
        match = label.search(text, pos)
        if match is None:
            break
        starts.append((match.start(), match.end()))
        pos = match.end()
    if len(starts) < 2:
        raise ValueError(f"cannot split options {text[:80]!r}")
    ends = [s for s, _ in starts[1:]] + [len(text)]
    return [text[body:end].strip().rstrip(",").strip() for (_, body), end in zip(starts, ends, strict=True)]


def _choice_letters(label: str) -> str:
    """"A B D" / "ABD" / "a" -> "ABD" / "A": multiple-choice gold as sorted upper-case letters."""
    letters = "".join(sorted(set(re.sub(r"[^A-Ja-j]", "", str(label)).upper())))
    if not letters:
        raise ValueError(f"no choice letter in {label!r}")
    return letters


def _gsm8k_hash(answer: str) -> str:
    if "####" not in answer:
        raise ValueError("no '####' before the final answer")
    return format_number(answer.split("####")[-1].strip())


Parsed = dict[str, Any]


def _p_gsm8k(r: dict) -> Parsed:
    sol = _field(r, "answer")
    return {"question": _field(r, "question"), "answer": _gsm8k_hash(sol), "solution": sol.split("####")[0].strip(),
            "answer_type": "number"}


def _p_gsm8k_ds(r: dict) -> Parsed:
    return {"question": _field(r, "question"), "answer": format_number(_field(r, "answer")),
            "solution": r.get("cot"), "item_id": r.get("id"), "answer_type": "number"}


def _p_math(r: dict) -> Parsed:
    sol = _field(r, "solution")
    boxed = last_boxed(sol)
    if boxed is None:
        raise ValueError("no \\boxed{} in 'solution'")
    return {"question": _field(r, "problem"), "answer": boxed, "solution": sol, "item_id": r.get("unique_id")}


def _p_math500(r: dict) -> Parsed:
    return {"question": _field(r, "problem"), "answer": str(_field(r, "answer")), "solution": r.get("solution"),
            "item_id": r.get("unique_id")}


def _p_cmath(r: dict) -> Parsed:
    gold = r.get("golden", r.get("answer"))
    if gold is None:
        raise KeyError("golden")
    return {"question": _field(r, "question"), "answer": format_number(gold), "answer_type": "number"}


def _p_mgsm_messages(r: dict) -> Parsed:
    messages = _field(r, "messages")
    user = [m["content"] for m in messages if m.get("role") == "user"]
    if not user:
        raise KeyError("messages[role=user]")
    return {"question": user[0], "answer": format_number(_field(r, "answer")), "item_id": r.get("id"),
            "answer_type": "number"}


def _p_svamp(r: dict) -> Parsed:
    body, question = _field(r, "Body").strip(), _field(r, "Question").strip()
    sep = " " if body.endswith((".", "?", "!")) else ". "
    return {"question": body + sep + question, "answer": format_number(_field(r, "Answer")),
            "solution": r.get("Equation"), "item_id": r.get("ID"), "answer_type": "number"}


def _p_asdiv(r: dict) -> Parsed:
    # "9 (apples)" -> "9"; ratios like "3:4" stay as they are.
    gold = format_number(re.sub(r"\s*\(.*\)\s*$", "", str(_field(r, "answer"))).strip())
    # ~3% of ASDiv golds are names, times or ordinals ("Alex", "3:30 p.m."): graded as text, not numbers
    kind = "number" if all(parse_number(p) is not None for p in gold.split(":")) else "text"
    return {"question": f"{_field(r, 'body').strip()} {_field(r, 'question').strip()}", "answer": gold,
            "solution": r.get("formula"), "answer_type": kind}


def _p_mawps(r: dict) -> Parsed:
    return {"question": _field(r, "input"), "answer": format_number(_field(r, "target")), "answer_type": "number"}


def _p_gsm_hard(r: dict) -> Parsed:
    return {"question": _field(r, "input"), "answer": format_number(_field(r, "target")), "solution": r.get("code"),
            "answer_type": "number"}


def _p_mmlu(r: dict) -> Parsed:
    options = [str(o) for o in _field(r, "options" if "options" in r else "choices")]
    gold = _field(r, "answer")
    letter = LETTERS[gold] if isinstance(gold, int) else _choice_letters(gold)
    return {"question": _field(r, "question"), "answer": letter, "choices": tuple(options),
            "answer_type": "choice"}


def _p_agieval_qa(r: dict) -> Parsed:
    return {"question": _field(r, "question").strip(), "answer": _choice_letters(_field(r, "label")),
            "choices": _letter_options(_field(r, "options")), "answer_type": "choice"}


def _p_agieval_cloze(r: dict) -> Parsed:
    return {"question": _field(r, "question").strip(), "answer": str(_field(r, "answer")).strip()}


def _p_ocw(r: dict) -> Parsed:
    return {"question": _field(r, "problem"), "answer": str(_field(r, "answer")).strip(),
            "solution": r.get("solution"), "item_id": r.get("id")}


def _p_sat(r: dict) -> Parsed:
    return {"question": _field(r, "question"), "answer": _choice_letters(_field(r, "Answer")),
            "choices": tuple(_split_inline_options(_field(r, "options"))), "item_id": r.get("id"),
            "answer_type": "choice"}


def _p_aqua(r: dict) -> Parsed:
    return {"question": _field(r, "question"), "answer": _choice_letters(_field(r, "correct")),
            "choices": _letter_options(_field(r, "options")), "solution": r.get("rationale"),
            "answer_type": "choice"}


def _p_mathqa(r: dict) -> Parsed:
    options = _field(r, "options")
    if options.startswith("["):  # some records hold a Python list literal instead of "a ) x , b ) y"
        choices = _letter_options(ast.literal_eval(options))
    else:
        choices = tuple(_split_inline_options(options))
    return {"question": _field(r, "problem"), "answer": _choice_letters(_field(r, "correct")),
            "choices": choices, "solution": r.get("rationale"),
            "answer_type": "choice"}


def _p_aime(r: dict) -> Parsed:
    return {"question": _field(r, "problem"), "answer": format_number(_field(r, "answer")),
            "solution": r.get("solution"), "item_id": r.get("id"), "answer_type": "number"}


def _p_amc(r: dict) -> Parsed:
    return {"question": _field(r, "question"), "answer": format_number(_field(r, "answer")), "item_id": r.get("id"),
            "answer_type": "number"}


def _p_question_answer(r: dict) -> Parsed:
    return {"question": _field(r, "question"), "answer": str(_field(r, "answer")).strip()}


RECORD_PARSERS: dict[str, Callable[[dict], Parsed]] = {
    "gsm8k": _p_gsm8k, "gsm8k_ds": _p_gsm8k_ds, "math": _p_math, "math500": _p_math500, "cmath": _p_cmath,
    "mgsm_messages": _p_mgsm_messages, "svamp": _p_svamp, "asdiv": _p_asdiv, "mawps": _p_mawps,
    "gsm_hard": _p_gsm_hard, "mmlu": _p_mmlu, "agieval_qa": _p_agieval_qa, "agieval_cloze": _p_agieval_cloze,
    "ocw": _p_ocw, "sat": _p_sat, "aqua": _p_aqua, "mathqa": _p_mathqa, "aime": _p_aime, "amc": _p_amc,
    "question_answer": _p_question_answer,
}


def parse_records(
    records: Iterable[dict], benchmark: str, fmt: str, lang: str, source: str, skipped: list[str] | None = None
) -> Iterator[BenchmarkItem]:
    """Turn raw records into items with `RECORD_PARSERS[fmt]`; errors name `source`, record number and key.

    A record without a gold answer is skipped, logged, and its reason appended to `skipped`.
    """
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
        yield BenchmarkItem(benchmark=benchmark, item_id=item_id, lang=lang, **parsed)


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
