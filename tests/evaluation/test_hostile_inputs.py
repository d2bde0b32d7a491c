"""Hostile model output never hangs or crashes the evaluator: every parse is bounded, counted, graded wrong.

The answers below reach each stage that reads model text: extraction (in process, linear time),
the grading fast path (in process, length-capped), math-verify (worker processes with a CPU deadline
per pair, an address-space limit and a kill when stuck in C), and the Python-output-to-LaTeX step of
program of thought (sympy in a confined, killable sandbox child).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from evaluation.answers import extract_answer, find_boxed
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import Grader, GradingConfig, GradingError
from evaluation.sandbox import SandboxConfig, SandboxPool

HOSTILE_ANSWERS = {
    "huge_power_tower": "2^{2^{2^{2^{2^{2^{2}}}}}}",
    "huge_power": "10^{10^{10}}",
    "power_of_powers": "9^{9^{9^{9}}}",
    "huge_root_index": "\\sqrt[10^{10}]{2}",
    "nested_roots_300": "\\sqrt{" * 300 + "2" + "}" * 300,
    "deep_parentheses_4000": "(" * 4000 + "2" + ")" * 4000,
    "deep_fractions_500": "\\frac{1}{" * 500 + "2" + "}" * 500,
    "huge_factorial": "(10^{10})!",
    "huge_exponent_literal": "1e999999999",
    "integral_of_huge_power": "\\int_0^{\\infty} e^{-x^{10^{10}}} dx",
    "string_10mb": "1" * 10_000_000,
    "boxes_1m_unclosed": "\\boxed{" * 1_000_000,
    "invalid_unicode": "\ud800\udfff 2\udc80",
    "control_bytes": "\x00\x1b[2J\xff 3",
}

HOSTILE_OUTPUTS = {
    "root_of_huge_power": "root(2, 10**10**10)",
    "power_tower": "10**10**10**10",
    "factorial_1e10": "factorial(10**10)",
    "deep_nesting": "(" * 100_000 + "1" + ")" * 100_000,
    "long_line_60kb": "9" * 60_000,
    "invalid_unicode": "\ud800",
}


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(GradingConfig(workers=2, chunk_size=2, timeout_s=0.5, stuck_after_s=4, memory_mb=1024)) as pool:
        yield pool


@pytest.mark.slow
@pytest.mark.timeout(300)  # a hang guard: each hostile pair costs up to its 0.5 CPU-second deadline
def test_hostile_answers_are_graded_wrong_and_counted(grader: Grader) -> None:
    gold = BenchmarkItem("t", "t-0", "q", "2")
    names = sorted(HOSTILE_ANSWERS)
    verdicts = grader.grade_many([(HOSTILE_ANSWERS[n], gold) for n in names])
    assert dict(zip(names, verdicts, strict=True)) == dict.fromkeys(names, False)
    assert grader.counts["too_long"] == 2  # the 10 MB string and the million boxes never reach a parser
    assert grader.counts["symbolic"] >= 8
    # still grading after all of that
    assert grader.grade_many([("\\frac{4}{2}", gold), ("\\sqrt{4}", gold), ("3", gold)]) == [True, True, False]


@pytest.mark.timeout(120)
def test_extraction_is_linear_on_hostile_completions() -> None:
    for text in (HOSTILE_ANSWERS["boxes_1m_unclosed"], HOSTILE_ANSWERS["string_10mb"],
                 "The answer is " * 500_000, "{" * 2_000_000 + "\\boxed{2}"):
        extract_answer(text)
    assert extract_answer("\\boxed{" * 10 + "2" + "}" * 10) == "2"  # the last box to open


def reference_boxed(text: str) -> list[str]:
    """The obvious quadratic rule: from each box opening, scan on until its brace closes."""
    found = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth = 1
        for pos in range(match.end(), len(text)):
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            if depth == 0:
                found.append(text[match.end() : pos].strip())
                break
    return found


def test_find_boxed_matches_quadratic_reference_on_random_texts() -> None:
    rng = random.Random(0)
    pieces = ["{", "}", "a", " ", "\\boxed{", "\\fbox {", "\\frac", "1"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(40)))
        assert find_boxed(text) == reference_boxed(text), text


@pytest.mark.timeout(120)
def test_hostile_program_outputs_convert_bounded() -> None:
    cfg = SandboxConfig(workers=2, cpu_time_s=2, wall_time_s=8, memory_mb=512)
    with SandboxPool(cfg) as pool:
        names = sorted(HOSTILE_OUTPUTS)
        results = pool.to_latex_many([HOSTILE_OUTPUTS[n] for n in names])
        by_name = dict(zip(names, results, strict=True))
        assert by_name["root_of_huge_power"] is None  # timed out, counted
        assert sum(pool.counts.values()) >= 1
        assert by_name["long_line_60kb"] == "9" * 60_000 and by_name["invalid_unicode"] == "\ud800"
        assert pool.to_latex("x = 3\n3*sqrt(2)\n") == "3 \\sqrt{2}"  # the pool goes on


@pytest.mark.timeout(120)
def test_a_grading_pool_that_cannot_start_fails_loudly() -> None:
    gold = BenchmarkItem("t", "t-0", "q", "x^2")
    with Grader(GradingConfig(workers=1, memory_mb=1, start_timeout_s=60)) as grader:  # cannot even import
        with pytest.raises(GradingError, match="cannot grade"):
            grader.grade_many([("x \\cdot x", gold)])
