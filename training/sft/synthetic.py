"""Generated math problems in English and Chinese, each with a gold answer and a solution in all three
SFT formats: chain of thought (one step per line, the answer in \\boxed{}), program of thought (a
```python block that prints the answer) and tool-integrated (reasoning, a ```python block, its
```output block, the boxed answer).

Why: laptop-scale SFT / RL / reward-model runs need problems a tiny model can learn in minutes, with
a measurable gain. Four kinds (an arithmetic expression, a linear equation, two word problems) with
small integers; every answer is an integer computed here in Python, and the programs print exactly
that integer (the build re-runs them in the sandbox and fills the output blocks from the real run).

`draw_items(n, seed)` is the stable entry point: the same (n, seed, langs) always gives the same items,
item i does not depend on n, and `heldout_split` keeps test questions out of the training draw.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "zh"]
Format = Literal["cot", "pot", "tool"]
FORMATS: tuple[Format, ...] = ("cot", "pot", "tool")
KINDS = ("expression", "equation", "word_total", "word_share")

_NAMES = {"en": ("Tom", "Mia", "Ben", "Lily", "Sam", "Emma", "Leo", "Ava"),
          "zh": ("小明", "小红", "小华", "小丽", "小刚", "小芳", "小军", "小雪")}
# (English plural, Chinese noun, Chinese measure word)
_THINGS = (("apples", "苹果", "个"), ("pencils", "铅笔", "支"), ("stickers", "贴纸", "张"),
           ("marbles", "弹珠", "颗"), ("books", "书", "本"), ("cards", "卡片", "张"))


@dataclass(frozen=True)
class SyntheticItem:
    item_id: str
    lang: Lang
    kind: str
    question: str
    answer: str  # the gold answer: an integer as text
    steps: tuple[str, ...]  # chain-of-thought steps, one line each (the boxed answer line excluded)
    program: str  # prints the answer
    plan: str  # one sentence that introduces the program in the tool-integrated solution

    def solution(self, fmt: Format) -> str:
        """The assistant's answer in format `fmt` (tool: with the program's output as computed here)."""
        boxed = f"所以答案是 \\boxed{{{self.answer}}}。" if self.lang == "zh" else f"The answer is \\boxed{{{self.answer}}}."
        if fmt == "cot":
            return "\n".join((*self.steps, boxed))
        if fmt == "pot":
            return f"```python\n{self.program}\n```"
        if fmt == "tool":
            return tool_solution(self.plan, self.program, self.answer, boxed)
        raise ValueError(f"unknown solution format {fmt!r} (cot, pot, tool)")

    @property
    def solutions(self) -> dict[str, str]:
        return {fmt: self.solution(fmt) for fmt in FORMATS}


def tool_solution(plan: str, program: str, output: str, conclusion: str) -> str:
    """A one-call tool-integrated solution, laid out as `evaluation.programs.run_tool_integrated` writes it."""
    return f"{plan}\n```python\n{program}\n```\n```output\n{output}\n```\n{conclusion}"


def _expression(rng: random.Random, lang: Lang) -> tuple[str, str, tuple[str, ...], str, str]:
    a, b, c = rng.randint(2, 30), rng.randint(2, 9), rng.randint(2, 9)
    product, total = b * c, a + b * c
    if rng.random() < 0.5:
        question = f"计算 {a} + {b} * {c} 的值。" if lang == "zh" else f"Compute {a} + {b} * {c}."
        steps = (f"{b} * {c} = {product}", f"{a} + {product} = {total}")
        plan = "先算乘法，再算加法。" if lang == "zh" else "Multiply first, then add."
        return question, str(total), steps, f"print({a} + {b} * {c})", plan
    a = product + rng.randint(1, 30)  # a positive answer
    question = f"计算 {a} - {b} * {c} 的值。" if lang == "zh" else f"Compute {a} - {b} * {c}."
    steps = (f"{b} * {c} = {product}", f"{a} - {product} = {a - product}")
    plan = "先算乘法，再算减法。" if lang == "zh" else "Multiply first, then subtract."
    return question, str(a - product), steps, f"print({a} - {b} * {c})", plan


def _equation(rng: random.Random, lang: Lang) -> tuple[str, str, tuple[str, ...], str, str]:
    x, a, b = rng.randint(1, 12), rng.randint(2, 9), rng.randint(1, 30)
    c = a * x + b
    question = f"解方程 {a}x + {b} = {c}，求 x。" if lang == "zh" else f"Solve for x: {a}x + {b} = {c}."
    steps = (f"{a}x = {c} - {b} = {c - b}", f"x = {c - b} / {a} = {x}")
    program = f"x = ({c} - {b}) // {a}\nprint(x)"
    plan = "把常数移到右边，再除以系数。" if lang == "zh" else "Move the constant to the right side and divide by the coefficient."
    return question, str(x), steps, program, plan


def _word_total(rng: random.Random, lang: Lang) -> tuple[str, str, tuple[str, ...], str, str]:
    name, (things, noun, measure) = rng.choice(_NAMES[lang]), rng.choice(_THINGS)
    a, b, c = rng.randint(2, 30), rng.randint(2, 9), rng.randint(2, 9)
    total = a + b * c
    if lang == "zh":
        question = f"{name}有{a}{measure}{noun}，又买了{b}袋，每袋{c}{measure}。{name}现在一共有多少{measure}{noun}？"
        steps = (f"买来的{noun}有 {b} * {c} = {b * c} {measure}", f"一共有 {a} + {b * c} = {total} {measure}")
        plan = "用原有的数量加上买来的袋数乘每袋的数量。"
    else:
        question = (f"{name} has {a} {things}. {name} buys {b} bags with {c} {things} in each bag. "
                    f"How many {things} does {name} have now?")
        steps = (f"The bags hold {b} * {c} = {b * c} {things}.", f"{a} + {b * c} = {total} {things} in all.")
        plan = "Add the bags' contents to what there was."
    program = f"have = {a}\nbought = {b} * {c}\nprint(have + bought)"
    return question, str(total), steps, program, plan


def _word_share(rng: random.Random, lang: Lang) -> tuple[str, str, tuple[str, ...], str, str]:
    name, (things, noun, measure) = rng.choice(_NAMES[lang]), rng.choice(_THINGS)
    boxes, each, given = rng.randint(2, 9), rng.randint(2, 12), rng.randint(1, 20)
    rest = boxes * each
    start = rest + given
    if lang == "zh":
        question = (f"{name}有{start}{measure}{noun}，送给朋友{given}{measure}，剩下的平均放进{boxes}个盒子里。"
                    f"每个盒子里有多少{measure}{noun}？")
        steps = (f"剩下 {start} - {given} = {rest} {measure}", f"每个盒子 {rest} / {boxes} = {each} {measure}")
        plan = "先减去送出的，再平均分。"
    else:
        question = (f"{name} has {start} {things} and gives {given} of them to a friend. The rest are shared "
                    f"equally among {boxes} boxes. How many {things} are in each box?")
        steps = (f"{start} - {given} = {rest} {things} are left.", f"{rest} / {boxes} = {each} {things} per box.")
        plan = "Subtract the gift, then divide equally."
    program = f"left = {start} - {given}\nprint(left // {boxes})"
    return question, str(each), steps, program, plan


_MAKERS: dict[str, Callable[[random.Random, Lang], tuple[str, str, tuple[str, ...], str, str]]] = {
    "expression": _expression, "equation": _equation, "word_total": _word_total, "word_share": _word_share,
}


def draw_item(seed: int, index: int, lang: Lang) -> SyntheticItem:
    """Item `index` of stream `seed` in language `lang` (its own RNG: independent of the other items)."""
    rng = random.Random(f"mathforge-synthetic/{seed}/{index}/{lang}")
    kind = rng.choice(KINDS)
    question, answer, steps, program, plan = _MAKERS[kind](rng, lang)
    return SyntheticItem(f"synthetic-{seed}-{index}-{lang}", lang, kind, question, answer, steps, program, plan)


def draw_items(n: int, seed: int, langs: Sequence[Lang] = ("en", "zh")) -> list[SyntheticItem]:
    """`n` items from stream `seed`, the languages taking turns (deterministic; item i is independent of n)."""
    if not langs or any(lang not in ("en", "zh") for lang in langs):
        raise ValueError(f"langs must be a non-empty selection of 'en', 'zh', not {langs!r}")
    return [draw_item(seed, i, langs[i % len(langs)]) for i in range(n)]


def heldout_split(n_train: int, n_test: int, seed: int,
                  langs: Sequence[Lang] = ("en", "zh")) -> tuple[list[SyntheticItem], list[SyntheticItem]]:
    """(train, test): test is stream `seed + 1`; train is drawn from stream `seed`, skipping any question
    that is in test, until it holds `n_train` items."""
    test = draw_items(n_test, seed + 1, langs)
    held = {item.question for item in test}
    train: list[SyntheticItem] = []
    index = 0
    while len(train) < n_train:
        item = draw_item(seed, index, langs[index % len(langs)])
        if item.question not in held:
            train.append(item)
        index += 1
    return train, test
