"""Step-labelled solutions of the synthetic task (`training.sft.synthetic`) with a known first wrong step.

Generated data, for reward-model tests and laptop runs. Labels follow the Math-Shepherd meaning (can the
gold answer still be reached from this step?): 1 before the first wrong step j, 0 from step j on; a
correct solution is all ones. Steps are the solution's lines.
- Chain of thought (`fmt="cot"`): the steps, then the boxed-answer line. A corrupted copy changes one
  step's result and recomputes every later step from the wrong value, so the solution stays internally
  consistent after the error: step j is the one arithmetic mistake.
- Program of thought (`fmt="pot"`): the fenced program, a line per step (the fences included, as a
  policy's response is split). A corrupted copy mis-copies one constant of a program line (`miscopy`:
  another of the question's numbers, one digit replaced, dropped or doubled, or the number ±1..5): the
  mistakes a small PoT policy makes (13 -> 10, 2 -> 22, 28 -> 8, 43 -> 44 seen in its samples), while the
  interpreter does the arithmetic right. Kept only when the program then prints another answer
  (`program_output`, an evaluator of the generator's straight-line programs: no code is executed).
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections.abc import Sequence
from fractions import Fraction

from training.rl.step_labels import LabelledSolution
from training.sft.synthetic import Format, SyntheticItem

_EQUATION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: Fraction(a, b) if b else None}


def correct_steps(item: SyntheticItem, fmt: Format = "cot") -> list[str]:
    """The solution in format `fmt` as steps: its lines (CoT: the item's steps, then the boxed answer)."""
    return item.solution(fmt).split("\n")


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


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}
_NUMBER = re.compile(r"\d+")


def program_output(program: str) -> str | None:
    """What a straight-line program of integer assignments and one `print(expr)` prints, evaluated on its
    syntax tree (+ - * //, names, integer literals); None for anything else or a division by zero."""

    def value(node: ast.expr, names: dict[str, int]) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](value(node.left, names), value(node.right, names))
        raise ValueError(ast.dump(node))

    names: dict[str, int] = {}
    printed = None
    try:
        for statement in ast.parse(program).body:
            if isinstance(statement, ast.Assign) and [type(t) for t in statement.targets] == [ast.Name]:
                names[statement.targets[0].id] = value(statement.value, names)
            elif (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                  and getattr(statement.value.func, "id", None) == "print" and len(statement.value.args) == 1):
                printed = str(value(statement.value.args[0], names))
            else:
                return None
    except (SyntaxError, ValueError, KeyError, ZeroDivisionError):
        return None
    return printed


def miscopy(number: str, question_numbers: Sequence[str], rng: random.Random) -> str:
    """A wrong copy of `number` (digits): one of the kinds above, drawn uniformly among those that apply."""
    position = rng.randrange(len(number))
    kinds = {
        "swap": [n for n in question_numbers if int(n) != int(number)],
        "replace": [number[:position] + d + number[position + 1:] for d in "0123456789" if d != number[position]],
        "drop": [number[:position] + number[position + 1:]] if len(number) > 1 else [],
        "double": [number[:position] + number[position] + number[position:]],
        "shift": [str(int(number) + d) for d in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5) if int(number) + d >= 0],
    }
    return str(int(rng.choice(rng.choice([c for c in kinds.values() if c]))))


def corrupt_program(item: SyntheticItem, line: int, rng: random.Random, tries: int = 20) -> LabelledSolution | None:
    """The PoT solution with one constant of step `line` (a program line) mis-copied (`miscopy`); None when
    no such change makes the program print another answer."""
    steps = correct_steps(item, "pot")
    constants = list(_NUMBER.finditer(steps[line]))
    if not constants:
        return None
    question_numbers = _NUMBER.findall(item.question)
    for _ in range(tries):
        target = rng.choice(constants)
        wrong = miscopy(target.group(), question_numbers, rng)
        out = list(steps)
        out[line] = steps[line][: target.start()] + wrong + steps[line][target.end():]
        printed = program_output("\n".join(out[1:-1]))
        if printed is None or printed == item.answer:
            continue
        labels = tuple(1.0 if k < line else 0.0 for k in range(len(out)))
        return LabelledSolution(item.question, tuple(out), labels, item.answer, f"{item.item_id}/wrong@{line}")
    return None


def labelled_solutions(items: Sequence[SyntheticItem], seed: int, wrong_per_item: int = 1,
                       fmt: Format = "cot") -> list[LabelledSolution]:
    """For each item: its correct solution in format `fmt` (all ones) and `wrong_per_item` corrupted ones,
    the wrong step drawn uniformly among the computational steps (CoT: all but the answer line; PoT: the
    program lines holding a constant), deterministic in `seed`."""
    if fmt not in ("cot", "pot"):
        raise ValueError(f"corrupted solutions exist for formats cot and pot, not {fmt!r}")
    rng = random.Random(f"mathforge-synthetic-steps/{seed}" + ("" if fmt == "cot" else f"/{fmt}"))
    out = []
    for item in items:
        steps = correct_steps(item, fmt)
        out.append(LabelledSolution(item.question, tuple(steps), (1.0,) * len(steps), item.answer, item.item_id))
        if fmt == "cot":
            candidates, make = list(range(len(steps) - 1)), corrupt
        else:
            candidates, make = [k for k in range(1, len(steps) - 1) if _NUMBER.search(steps[k])], corrupt_program
        for _ in range(wrong_per_item):
            wrong = make(item, rng.choice(candidates), rng)
            if wrong is not None:
                out.append(wrong)
    return out
