"""Step-labelled solutions of the synthetic task (`training.sft.synthetic`) with a known first wrong step.

Generated data, for reward-model tests and laptop runs: a correct chain-of-thought solution (its steps,
then the boxed-answer line) and corrupted copies in which one step's result is changed and every later
step is recomputed from the wrong value, so the solution stays internally consistent after the error:
step j is the first (and only) arithmetic mistake, and the final answer is wrong. Labels follow the
Math-Shepherd meaning (can the gold answer still be reached from this step?): 1 before step j, 0 from
step j on; a correct solution is all ones.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from fractions import Fraction

from training.rl.step_labels import LabelledSolution
from training.sft.synthetic import SyntheticItem

_EQUATION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: Fraction(a, b) if b else None}


def correct_steps(item: SyntheticItem) -> list[str]:
    """The chain-of-thought solution as steps: the item's lines, then the boxed-answer line."""
    return item.solution("cot").split("\n")


def _recompute(step: str, old: str, new: str) -> tuple[str, str | None]:
    """Replace operand `old` by `new` in the step's last equation and recompute its result; returns the
    new step and its new result (None when the step has no equation using `old`, or it is not whole)."""
    matches = list(_EQUATION.finditer(step))
    if not matches:
        return step, None
    last = matches[-1]
    left, op, right, _ = last.groups()
    if old not in (left, right):
        return step, None
    left, right = (new if left == old else left), (new if right == old else right)
    value = _OPS[op](int(left), int(right))
    if value is None or value < 0 or Fraction(value).denominator != 1:
        return step, None
    result = str(int(value))
    return step[: last.start()] + f"{left} {op} {right} = {result}" + step[last.end():], result


def corrupt(item: SyntheticItem, step: int, rng: random.Random, tries: int = 20) -> LabelledSolution | None:
    """The solution with step `step`'s result changed (by ±1..5) and later steps recomputed from it;
    None when no change keeps every later value a whole non-negative number different from the gold."""
    steps = correct_steps(item)
    match = list(_EQUATION.finditer(steps[step]))
    if not match:
        return None
    last = match[-1]
    old = last.group(4)
    for _ in range(tries):
        wrong = int(old) + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5])
        if wrong < 0:
            continue
        out = list(steps)
        out[step] = steps[step][: last.start(4)] + str(wrong) + steps[step][last.end(4):]
        carried_old, carried_new, ok = old, str(wrong), True
        for k in range(step + 1, len(steps) - 1):
            out[k], result = _recompute(steps[k], carried_old, carried_new)
            if result is None:
                ok = False
                break
            carried_old = _EQUATION.findall(steps[k])[-1][3]
            carried_new = result
        if not ok or carried_new == item.answer:
            continue
        out[-1] = steps[-1].replace(f"\\boxed{{{item.answer}}}", f"\\boxed{{{carried_new}}}")
        labels = tuple(1.0 if k < step else 0.0 for k in range(len(out)))
        return LabelledSolution(item.question, tuple(out), labels, item.answer, f"{item.item_id}/wrong@{step}")
    return None


def labelled_solutions(items: Sequence[SyntheticItem], seed: int, wrong_per_item: int = 1) -> list[LabelledSolution]:
    """For each item: its correct solution (all ones) and `wrong_per_item` corrupted ones, the wrong step
    drawn uniformly among the computational steps (deterministic in `seed`)."""
    rng = random.Random(f"mathforge-synthetic-steps/{seed}")
    out = []
    for item in items:
        steps = correct_steps(item)
        out.append(LabelledSolution(item.question, tuple(steps), (1.0,) * len(steps), item.answer, item.item_id))
        for _ in range(wrong_per_item):
            wrong = corrupt(item, rng.randrange(len(steps) - 1), rng)
            if wrong is not None:
                out.append(wrong)
    return out
