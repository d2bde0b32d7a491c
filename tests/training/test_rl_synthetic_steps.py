"""Corrupted synthetic solutions with a known first wrong step (generated data): chain of thought (a step's
result changed, later steps recomputed) and program of thought (a constant mis-copied), the latter checked
against what the programs really print in the sandbox."""

from __future__ import annotations

import re

import pytest

from evaluation.sandbox import SandboxConfig, SandboxPool
from training.rl.synthetic_steps import correct_steps, labelled_solutions, program_output
from training.sft.synthetic import draw_items


def _first_wrong(labels) -> int | None:
    return next((k for k, label in enumerate(labels) if label < 0.5), None)


def test_corrupted_programs_mis_copy_one_constant_and_print_another_answer():
    items = {item.question: item for item in draw_items(60, 3)}
    solutions = labelled_solutions(list(items.values()), seed=5, wrong_per_item=2, fmt="pot")
    wrong = [s for s in solutions if s.labels[-1] < 0.5]
    assert len(wrong) >= 100 and len(solutions) - len(wrong) == len(items)
    codes = []
    for solution in solutions:
        item = items[solution.question]
        gold = correct_steps(item, "pot")
        assert solution.steps[0] == "```python" and solution.steps[-1] == "```" and len(solution.steps) == len(gold)
        j = _first_wrong(solution.labels)
        if j is None:
            assert list(solution.steps) == gold
        else:  # one line differs, in one number; the labels are 1 before it and 0 from it on
            assert [k for k in range(len(gold)) if solution.steps[k] != gold[k]] == [j]
            assert 0 < j < len(gold) - 1 and solution.labels == tuple([1.0] * j + [0.0] * (len(gold) - j))
            assert re.sub(r"\d+", "#", solution.steps[j]) == re.sub(r"\d+", "#", gold[j])
        codes.append("\n".join(solution.steps[1:-1]))
    with SandboxPool(SandboxConfig(workers=2)) as sandbox:
        results = sandbox.run_many(codes)
    for solution, code, result in zip(solutions, codes, results, strict=True):
        assert result.ok and result.output.strip() == program_output(code)
        assert (result.output.strip() == solution.answer) == (solution.labels[-1] == 1.0)
    assert len({_first_wrong(s.labels) for s in wrong}) >= 2  # the mistake is not always on the first program line


@pytest.mark.parametrize("code", ["import os\nprint(1)", "print(2 ** 10)", "x = y\nprint(x)", "print(1 // 0)",
                                  "print(1, 2)", "def f(): pass"])
def test_program_output_refuses_what_it_does_not_evaluate(code):
    assert program_output(code) is None


def test_corrupted_chain_of_thought_keeps_its_later_steps_consistent():
    solutions = labelled_solutions(draw_items(40, 2, ("en",)), seed=1, wrong_per_item=1)
    wrong = [s for s in solutions if s.labels[-1] < 0.5]
    assert wrong
    for solution in wrong:
        j = _first_wrong(solution.labels)
        assert j < len(solution.steps) - 1 and f"\\boxed{{{solution.answer}}}" not in solution.steps[-1]
