"""Grading: golds against themselves, perturbed golds, a table of equivalent forms, the numeric rule."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.benchmarks import LETTERS, BenchmarkItem, iter_benchmark_items
from evaluation.grading import Grader, GradingConfig, choice_letters, is_correct, quick_grade
from evaluation.normalize import numbers_close, parse_number

EQUIVALENT = [
    ("\\frac{1}{2}", "0.5", "math"),
    ("\\frac{1}{2}", "1/2", "math"),
    ("0.5", "\\dfrac{1}{2}", "math"),
    ("3\\sqrt{2}", "\\sqrt{18}", "math"),
    ("50\\%", "0.5", "math"),
    ("50\\%", "50", "math"),
    ("0.75", "\\frac34", "math"),
    ("1000", "1,000", "number"),
    ("18", "\\$18", "number"),
    ("18", "18 dollars", "number"),
    ("18", "18.0", "number"),
    ("18", "１８", "number"),
    ("13", "13元", "number"),
    ("0.5", "５０％", "math"),
    ("90^\\circ", "90", "math"),
    ("4.5e33", "4.5\\times10^{33}", "math"),
    ("1.6", "1.60001", "math"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", "math"),
    ("(x+1)^2", "x^2+2x+1", "math"),
    ("y=2x+1", "2x-y+1=0", "math"),
    ("\\frac{2\\sqrt{5}}{5}", "\\frac{2}{\\sqrt{5}}", "math"),
    ("[0,2]", "\\left[0, 2\\right]", "math"),
]
DIFFERENT = [
    ("\\frac{1}{2}", "0.6", "math"),
    ("3\\sqrt{2}", "\\sqrt{19}", "math"),
    ("10000", "10001", "number"),  # exact integers get no tolerance
    ("1.6", "1.7", "math"),
    ("0", "1e-20", "math"),
    ("(x+1)^2", "x^2+1", "math"),
    ("[0,2]", "(0,2)", "math"),
    ("18", "", "number"),
]


@pytest.mark.parametrize(("gold", "pred", "kind"), EQUIVALENT)
def test_equivalent_forms(gold: str, pred: str, kind: str) -> None:
    assert is_correct(pred, gold, kind)


@pytest.mark.parametrize(("gold", "pred", "kind"), DIFFERENT)
def test_different_answers(gold: str, pred: str, kind: str) -> None:
    assert not is_correct(pred, gold, kind)


def test_percent_rule_per_benchmark() -> None:
    assert is_correct("0.5", "50\\%") and is_correct("50", "50\\%")  # default "either"
    assert not is_correct(None, "50")
    assert not is_correct("0.5", "50\\%", percent="value") and is_correct("50", "50\\%", percent="value")
    assert is_correct("50\\%", "50", percent="value") and not is_correct("5000\\%", "50", percent="value")
    assert is_correct("50\\%", "0.5", percent="fraction") and not is_correct("50\\%", "50", percent="fraction")
    assert is_correct("50\\%", "50\\%", percent="fraction") and is_correct("50%", "50\\%", percent="value")
    gsm = BenchmarkItem("gsm8k", "g", "What percent?", "50", answer_type="number", percent="value")
    math = BenchmarkItem("math", "m", "What fraction?", "0.5")
    with Grader(GradingConfig(symbolic=False)) as grader:
        assert grader.grade_many([("5000\\%", gsm), ("50\\%", gsm), ("50\\%", math)]) == [False, True, True]
    # the config overrides a benchmark's own rule, by name
    with Grader(GradingConfig(symbolic=False, percent={"math": "value", "gsm8k": "either"})) as grader:
        assert grader.grade_many([("5000\\%", gsm), ("50\\%", math)]) == [True, False]


def test_local_benchmarks_carry_their_percent_rule(benchmarks_dir: Path) -> None:
    rules = {i.benchmark: i.percent for i in iter_benchmark_items(benchmarks_dir, ["gsm8k", "math", "olympiadbench"])}
    assert rules == {"gsm8k": "value", "math": "either", "olympiadbench": "value"}


def test_choices() -> None:
    options = ("3", "4", "5", "6")
    assert choice_letters("(B)") == "B"
    assert choice_letters("B. 4") == "B"
    assert choice_letters("A, D") == "AD"
    assert choice_letters("4", options) == "B"
    assert quick_grade("\\text{(B)}", "B", "choice", options) is True
    assert quick_grade("C", "B", "choice", options) is False
    assert quick_grade("A", "AD", "choice", options) is False
    assert quick_grade("D and A", "AD", "choice", options) is True
    assert quick_grade("7", "B", "choice", options) is False


def test_grader_pool_matches_in_process_grading() -> None:
    items = [BenchmarkItem("t", f"t-{i}", "q", gold, answer_type=kind) for i, (gold, _, kind) in enumerate(EQUIVALENT + DIFFERENT)]
    preds = [pred for _, pred, _ in EQUIVALENT + DIFFERENT]
    with Grader(GradingConfig(workers=2, chunk_size=4)) as grader:
        verdicts = grader.grade_many(list(zip(preds, items, strict=True)))
    assert verdicts == [True] * len(EQUIVALENT) + [False] * len(DIFFERENT)


@pytest.mark.timeout(60)
def test_a_worker_stuck_in_c_code_costs_only_its_own_pair() -> None:
    """With math-verify's own timeout off, 9^{9^{9}} computes for minutes inside one C call; the pool
    is killed, the chunk retried pair by pair, and grading goes on."""
    golds = ["1", "0.5", "x^2", "\\pi"]
    preds = ["9^{9^{9}}", "\\frac{1}{2}", "x \\cdot x", "\\pi"]
    items = [BenchmarkItem("t", f"t-{i}", "q", gold) for i, gold in enumerate(golds)]
    with Grader(GradingConfig(workers=1, chunk_size=4, timeout_s=0, stuck_after_s=2)) as grader:
        assert grader.grade_many(list(zip(preds, items, strict=True))) == [False, True, True, True]
        assert grader.grade_many([("x*x", items[2])]) == [True]


def perturb(item: BenchmarkItem) -> str | None:
    """A wrong answer close to the gold: the next choice letter, or the first digit raised by one."""
    if item.answer_type == "choice":
        return "".join(LETTERS[(LETTERS.index(c) + 1) % len(item.choices)] for c in item.answer)
    if not re.search(r"\d", item.answer):
        return None
    return re.sub(r"\d", lambda m: str(int(m.group()) + 1), item.answer, count=1)


@pytest.mark.slow
@pytest.mark.timeout(600)  # a hang guard: ~100 s on 2 idle cores, several minutes on a loaded machine
def test_golds_grade_correct_and_perturbed_golds_wrong_on_every_benchmark(benchmarks_dir: Path) -> None:
    items = list(iter_benchmark_items(benchmarks_dir))
    perturbed = [(perturb(i), i) for i in items]
    perturbed = [(p, i) for p, i in perturbed if p is not None]
    with Grader() as grader:
        assert all(grader.grade_many([(i.answer, i) for i in items]))
        # golds through the symbolic stage too: wrapped so that the string fast path cannot settle them
        math_items = [i for i in items if i.benchmark in ("math500", "gaokao_mathcloze")]
        assert all(grader.grade_many([(f"\\boxed{{{i.answer}}}", i) for i in math_items]))
        wrong = [(p, i.benchmark, i.answer) for (p, i), ok in zip(perturbed, grader.grade_many(perturbed), strict=True) if ok]
    assert wrong == []
    # only golds without any digit (e.g. "\\pi", names) cannot be perturbed this way
    assert len(perturbed) > 0.98 * len(items)


@given(st.integers(-10**6, 10**6), st.integers(1, 10**4), st.integers(-10**6, 10**6), st.integers(1, 10**4),
       st.sampled_from([0.0, 1e-6, 1e-4, 0.1]))
def test_numbers_close_matches_float_reference(p: int, q: int, r: int, s: int, rel: float) -> None:
    a, b = Fraction(p, q), Fraction(r, s)
    reference = abs(float(a) - float(b)) <= rel * max(abs(float(a)), abs(float(b)))
    exact_gap = abs(a - b) - Fraction(rel) * max(abs(a), abs(b))
    if abs(float(exact_gap)) > 1e-9:  # away from the boundary, where float rounding could flip it
        assert numbers_close(a, b, rel, 0.0) == reference


@given(st.integers(-10**9, 10**9), st.integers(1, 10**6))
def test_parse_number_round_trips_written_forms(num: int, den: int) -> None:
    value = Fraction(num, den)
    assert parse_number(f"\\frac{{{num}}}{{{den}}}").value == value
    assert parse_number(f"{num}/{den}").value == value
    assert parse_number(f"{num:,}").value == num
    assert parse_number(f"{num}\\%").percent
