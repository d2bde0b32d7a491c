"""The real SFT training data -> `SFTExample`s: GSM8K train, MATH train (one JSON file per problem, as
the original release ships it), ToRA's tool-integrated examples and Ape210K (Chinese), from local
files or Hugging Face datasets by name (`HF_SOURCES`; the same record converters, tested on local files).

A record that cannot be read (bad JSON, a missing field) is an error naming the file and line; a
well-formed record that cannot become an example (a MATH solution without a boxed answer, an
Ape210K problem that duplicates a CMATH test problem) is skipped and counted by reason.

The user turn is the question followed by the evaluation's instruction for the format
(`evaluation.prompts.INSTRUCTION`), so SFT prompts are byte-identical to evaluation's chat prompts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.answers import last_boxed
from evaluation.prompts import INSTRUCTION
from training.sft.schema import RecordError, SFTExample
from training.sft.synthetic import SyntheticItem

# Ape210K valid ids whose problem is a CMATH test problem (../shared/data/train/SOURCES.md, "Overlap")
APE210K_CMATH_TEST_DUPLICATES = frozenset({"879575", "312192", "854101", "153191", "1102393"})
# name -> (Hugging Face dataset, config, split); records in the local files' format
HF_SOURCES: dict[str, tuple[str, str | None, str]] = {
    "gsm8k": ("openai/gsm8k", "main", "train"),
    "math": ("DigitalLearningGmbH/MATH-lighteval", "default", "train"),
}


@dataclass
class Converted:
    """What a converter produced: the examples and the skipped records counted by reason."""

    examples: list[SFTExample] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def user_turn(question: str, fmt: str, lang: str) -> dict[str, str]:
    return {"role": "user", "content": f"{question.strip()}\n{INSTRUCTION[(fmt, lang)]}"}


def example(id_: str, question: str, solution: str, lang: str, fmt: str, source: str, answer: str) -> SFTExample:
    messages = (user_turn(question, fmt, lang), {"role": "assistant", "content": solution.strip()})
    return SFTExample(id_, messages, lang, fmt, source, answer.strip())


def _field(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str | int | float) or isinstance(value, bool) or str(value).strip() == "":
        raise RecordError(f"{where}: field {key!r} missing or empty")
    return str(value)


_CALC = re.compile(r"<<[^<>]*>>")


def gsm8k_record(record: dict, where: str) -> SFTExample | str:
    """GSM8K: `answer` is the solution with <<calculator>> marks, its last line `#### N`."""
    solution = _field(record, "answer", where)
    body, sep, gold = solution.rpartition("####")
    if not sep:
        return "no_final_answer"
    gold = gold.strip().replace(",", "")
    text = _CALC.sub("", body).strip()
    return example(f"gsm8k-{where.rsplit(':', 1)[-1]}", _field(record, "question", where),
                   f"{text}\nThe answer is \\boxed{{{gold}}}.", "en", "cot", "gsm8k", gold)


def math_record(record: dict, where: str) -> SFTExample | str:
    """MATH: `problem`, `solution` (the gold is its last \\boxed{})."""
    solution = _field(record, "solution", where)
    gold = last_boxed(solution)
    if not gold:
        return "no_boxed_answer"
    return example(f"math-{where}", _field(record, "problem", where), solution, "en", "cot", "math", gold)


def tora_record(record: dict, where: str) -> SFTExample | str:
    """ToRA: `messages` = [user, assistant] with ```python / ```output blocks; gold `gt`."""
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) != 2 or any(not isinstance(m, dict) for m in messages):
        raise RecordError(f"{where}: field 'messages' must be [user, assistant]")
    question, solution = (_field(m, "content", where) for m in messages)
    id_ = _field(record, "id", where)
    return example(f"tora-{id_}", question, solution, "en", "tool", "tora", _field(record, "gt", where))


_APE_OPERATORS = (("^", "**"), ("%", "/100"), ("（", "("), ("）", ")"), ("[", "("), ("]", ")"), ("×", "*"), ("÷", "/"))


def ape210k_records(record: dict, where: str) -> list[SFTExample] | str:
    """Ape210K: `original_text`, `equation` ("x=135/3"), `ans`. A program of thought runs the equation;
    a short chain of thought states it with the answer."""
    id_ = _field(record, "id", where)
    if id_ in APE210K_CMATH_TEST_DUPLICATES:
        return "cmath_test_duplicate"
    equation, gold = _field(record, "equation", where).strip(), _field(record, "ans", where)
    if not equation.startswith("x="):
        return "equation_not_x"
    expression = equation[2:]
    for ours, python in _APE_OPERATORS:
        expression = expression.replace(ours, python)
    question = _field(record, "original_text", where)
    pot = f"```python\nx = {expression}\nprint(x)\n```"
    cot = f"列式计算：{equation[2:]} = {gold}\n所以答案是 \\boxed{{{gold}}}。"
    return [example(f"ape210k-{id_}-pot", question, pot, "zh", "pot", "ape210k", gold),
            example(f"ape210k-{id_}-cot", question, cot, "zh", "cot", "ape210k", gold)]


def synthetic_examples(items: Iterable[SyntheticItem], formats: Iterable[str] = ("cot", "pot", "tool")) -> list[SFTExample]:
    """Each generated item in each format."""
    return [example(f"{item.item_id}-{fmt}", item.question, item.solution(fmt), item.lang, fmt, "synthetic", item.answer)
            for item in items for fmt in formats]


RecordConverter = Callable[[dict, str], "SFTExample | list[SFTExample] | str"]
CONVERTERS: dict[str, RecordConverter] = {
    "gsm8k": gsm8k_record, "math": math_record, "tora": tora_record, "ape210k": ape210k_records,
}


def convert(kind: str, records: Iterable[tuple[str, dict]]) -> Converted:
    """(where, record) pairs of one source -> examples, with skips counted by reason."""
    if kind not in CONVERTERS:
        raise ValueError(f"unknown SFT source kind {kind!r} (known: {', '.join(CONVERTERS)})")
    out = Converted()
    for where, record in records:
        if not isinstance(record, dict):
            raise RecordError(f"{where}: not a JSON object")
        result = CONVERTERS[kind](record, where)
        if isinstance(result, str):
            out.skipped[result] += 1
        else:
            out.examples.extend(result if isinstance(result, list) else [result])
    return out


def local_records(kind: str, path: str | Path) -> Iterator[tuple[str, dict]]:
    """(where, record) from local files: JSONL (where = file:line), or for MATH a folder of one JSON file
    per problem (where = subject/name)."""
    path = Path(path)
    if kind == "math" and path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise FileNotFoundError(f"{path}: no MATH problem files (*.json)")
        for file in files:
            try:
                yield f"{file.parent.name}/{file.stem}", json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise RecordError(f"{file}: not valid JSON: {exc}") from exc
        return
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SFT source file not found")
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{path}:{lineno}: not valid JSON: {exc}") from exc


def hf_records(kind: str, path: str | None = None, config: str | None = None, split: str | None = None,
               data_files: str | list[str] | None = None) -> Iterator[tuple[str, dict]]:
    """(where, record) from a Hugging Face dataset: by name (`HF_SOURCES[kind]`) or an explicit
    path/config/split (`path="json", data_files=...` reads local files through `datasets`)."""
    import datasets  # heavy; only for this path

    hub_path, hub_config, hub_split = HF_SOURCES.get(kind, (None, None, "train"))
    path, config, split = path or hub_path, config if path else (config or hub_config), split or hub_split
    if path is None:
        raise ValueError(f"SFT source kind {kind!r} has no Hugging Face dataset by name; give its path")
    for row, record in enumerate(datasets.load_dataset(path, config, split=split, data_files=data_files)):
        yield f"hf:{path}:{split}:{row}", dict(record)
