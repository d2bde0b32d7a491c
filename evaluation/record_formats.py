"""Record formats: one small parser per source format, raw JSON record -> the fields of a `BenchmarkItem`.

A parser raises KeyError (missing key) or ValueError / TypeError (bad value); `benchmarks.parse_records`
turns those into errors naming file, record and key. Split out of benchmarks.py to keep each module small.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from evaluation.answers import last_boxed
from evaluation.normalize import parse_number

LETTERS = "ABCDEFGHIJ"


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


def _split_inline_options(text: str, bare_labels: bool = False) -> list[str]:
    """"A) 1 B) 2 C) 3", "A. 1 B. 2" or "a ) 1 , b ) 2" -> ["1", "2", ...]: labels found in letter order.
    `bare_labels`: also a capital letter alone between spaces ("A. x B. y C z"), for upstream typos."""
    starts: list[tuple[int, int]] = []
    pos = 0
    for letter in LETTERS:
        if bare_labels:
            label = re.compile(rf"(?:^|(?<=\s))\(?{letter}(?:\s*[).]|(?=\s))\s*")
        else:
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


def _split_question_options(text: str) -> tuple[str, list[str]]:
    """"stem\nA. x B. y C. z D. w" -> ("stem", ["x", "y", "z", "w"]): options written into the question.
    The last "A." / "A)" label that starts four or more options is the one (the stem may hold an "A."); only
    when there is none, bare letters count as labels."""
    for bare in (False, True):  # a missing "." after a letter is the one typo seen upstream
        labels = re.compile(r"(?:^|(?<=\s))\(?A(?:\s*[).]|(?=\s))" if bare else r"(?:^|(?<=[\s,(]))\(?A\s*[).]")
        for match in reversed(list(labels.finditer(text))):
            try:
                options = _split_inline_options(text[match.start():], bare_labels=bare)
            except ValueError:
                continue
            if len(options) >= 4:
                return text[: match.start()].strip(), options
    raise ValueError("no options A-D found in the question")


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
    # ~3% of ASDiv golds are names, times or ordinals ("Alex", "3:30 p.m.", "5:45"): graded as text, not
    # numbers (a time's formula ends in "hh:mm=..."; ratios such as "3:4" stay numbers)
    is_time = "hh:mm" in str(r.get("formula", ""))
    kind = "number" if not is_time and all(parse_number(p) is not None for p in gold.split(":")) else "text"
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


def _p_olympiadbench(r: dict) -> Parsed:
    # one final answer string per record here (several answers are written into it, comma separated)
    gold = ", ".join(str(a).strip() for a in _field(r, "final_answer"))
    context = (r.get("context") or "").strip()
    kind = "number" if r.get("answer_type") == "Numerical" and parse_number(gold) is not None else "math"
    return {"question": f"{context}\n{_field(r, 'question')}".strip(), "answer": gold, "item_id": r.get("id"),
            "solution": "\n\n".join(r.get("solution") or []) or None, "answer_type": kind}


def _choice_or_open(question: str, gold: str, letters: str) -> Parsed:
    """A Gaokao-style record: multiple choice (options cut out of the question) when it has a letter
    gold, else an open answer graded as math."""
    if not letters.strip():
        return {"question": question.strip(), "answer": gold.strip()}
    stem, options = _split_question_options(question)
    return {"question": stem, "answer": _choice_letters(letters), "choices": tuple(options), "answer_type": "choice"}


def _p_gaokao2024(r: dict) -> Parsed:
    kind, gold = _field(r, "type"), str(_field(r, "answer"))
    if kind not in ("single", "multi", "blank"):
        raise ValueError(f"unknown question type {kind!r} in 'type'")
    return _choice_or_open(_field(r, "question"), gold, gold if kind != "blank" else "")


def _p_choice_answer(r: dict) -> Parsed:
    parsed = _choice_or_open(_field(r, "question"), str(_field(r, "answer")), str(r.get("choice_answer") or ""))
    return {**parsed, "item_id": r.get("idx")}


def _p_carp(r: dict) -> Parsed:
    return {"question": _field(r, "content"), "answer": str(_field(r, "answer")).strip(), "solution": r.get("steps")}


RECORD_PARSERS: dict[str, Callable[[dict], Parsed]] = {
    "gsm8k": _p_gsm8k, "gsm8k_ds": _p_gsm8k_ds, "math": _p_math, "math500": _p_math500, "cmath": _p_cmath,
    "mgsm_messages": _p_mgsm_messages, "svamp": _p_svamp, "asdiv": _p_asdiv, "mawps": _p_mawps,
    "gsm_hard": _p_gsm_hard, "mmlu": _p_mmlu, "agieval_qa": _p_agieval_qa, "agieval_cloze": _p_agieval_cloze,
    "ocw": _p_ocw, "sat": _p_sat, "aqua": _p_aqua, "mathqa": _p_mathqa, "aime": _p_aime, "amc": _p_amc,
    "question_answer": _p_question_answer, "olympiadbench": _p_olympiadbench, "gaokao2024": _p_gaokao2024,
    "choice_answer": _p_choice_answer, "carp": _p_carp,
}
