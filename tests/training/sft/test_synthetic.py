"""The synthetic SFT problems: deterministic, EN and ZH, every format's answer is the gold answer
(programs run in the real sandbox, boxed answers read by the evaluation's extractor)."""

from __future__ import annotations

from collections import Counter

from evaluation.answers import extract_answer
from evaluation.programs import python_output_to_latex
from evaluation.sandbox import SandboxConfig, SandboxPool
from training.sft.synthetic import KINDS, draw_items, heldout_split


def test_draws_are_deterministic_and_item_i_does_not_depend_on_n():
    first, again = draw_items(40, seed=3), draw_items(40, seed=3)
    assert first == again
    assert draw_items(10, seed=3) == first[:10]
    assert draw_items(40, seed=4) != first
    assert Counter(item.lang for item in first) == {"en": 20, "zh": 20}
    assert set(item.kind for item in first) == set(KINDS)
    assert all(item.question.isascii() for item in first if item.lang == "en")
    assert not any(item.question.isascii() for item in first if item.lang == "zh")


def test_every_solution_format_reaches_the_gold_answer():
    items = draw_items(60, seed=11)
    for item in items:
        cot = item.solution("cot")
        assert "\n" in cot and cot.splitlines()[:-1] == list(item.steps)
        assert extract_answer(cot) == item.answer
        assert extract_answer(item.solution("tool")) == item.answer
        assert item.solution("pot") == f"```python\n{item.program}\n```"
    with SandboxPool(SandboxConfig(workers=2, cpu_time_s=2, wall_time_s=5)) as pool:
        results = pool.run_many([item.program for item in items])
    assert all(r.ok for r in results), [r for r in results if not r.ok][:2]
    assert [python_output_to_latex(r.output) for r in results] == [item.answer for item in items]


def test_heldout_split_keeps_test_questions_out_of_train():
    train, test = heldout_split(300, 100, seed=5)
    assert len(train) == 300 and len(test) == 100
    assert not {i.question for i in train} & {i.question for i in test}
    assert heldout_split(300, 100, seed=5) == (train, test)


def test_worked_problem_pretraining_texts_skip_the_evaluation_split():
    """The pretraining form of the generator: plain question + chain of thought, both languages, and never a
    question of the held-out split it is told to exclude (streams collide: the question space is small)."""
    from training.demo import worked_problem_texts

    _, test = heldout_split(0, 400, seed=0)
    held = {item.question for item in test}
    everything = worked_problem_texts(2000, seed=7)
    texts = worked_problem_texts(2000, seed=7, exclude=held)
    assert len(texts) == 2000 and texts == worked_problem_texts(2000, seed=7, exclude=held)

    def questions(docs: list[str]) -> set[str]:
        return {d.split("\n")[0].removeprefix("Question: ").removeprefix("问题：") for d in docs}

    assert questions(everything) & held  # the test means something: the unfiltered draw does hold evaluation questions
    assert not questions(texts) & held
    assert sum(t.startswith("问题：") for t in texts) > 900 and all("\\boxed{" in t for t in texts)
