"""Prompts: few-shot chain of thought (EN/ZH), program of thought, tool-integrated, and the chat template.

Why plain functions: SFT data building and GRPO sampling must produce byte-identical prompts to the
ones evaluation used, so the template is one function (`chat_prompt`) that they import. Base models
get few-shot prompts ("Question: ... Answer: ... The answer is X."); instruct models get the chat
template with the DeepSeekMath instruction (final answer in \\boxed{}). The exemplars are our own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from evaluation.benchmarks import LETTERS, BenchmarkItem
from evaluation.chat_template import chat_prompt

Style = Literal["cot", "pot", "tool"]

# (question, chain of thought ending in the answer sentence, answer)
_COT_EN = [
    ("A baker makes 24 rolls and sells 3 bags of 5 rolls. How many rolls are left?",
     "The bags hold 3 * 5 = 15 rolls. 24 - 15 = 9 rolls are left.", "9"),
    ("Mia reads 12 pages a day. How many days does she need for a 90-page book?",
     "12 * 7 = 84 pages is not enough and 12 * 8 = 96 pages is, so she needs 8 days.", "8"),
    ("What is the value of $x$ if $3x + 7 = 22$?",
     "Subtracting 7 gives $3x = 15$, so $x = 5$.", "5"),
    ("Simplify $\\frac{6}{8} + \\frac{1}{4}$.",
     "$\\frac{6}{8} = \\frac{3}{4}$, and $\\frac{3}{4} + \\frac{1}{4} = 1$.", "1"),
]
_COT_ZH = [
    ("小明有15个苹果，送给同学6个，又买了4个。他现在有多少个苹果？",
     "送出后剩下 15 - 6 = 9 个，又买了 4 个，9 + 4 = 13 个。", "13"),
    ("一本书有120页，小红每天看15页，几天能看完？", "120 ÷ 15 = 8，所以需要8天。", "8"),
    ("一个长方形长8厘米，宽5厘米，它的周长是多少厘米？", "周长 = (8 + 5) × 2 = 26 厘米。", "26"),
]
_CHOICE_EN = [
    ("Which number is prime?", ("21", "27", "29", "33"),
     "21 = 3 * 7, 27 = 3^3 and 33 = 3 * 11; 29 has no divisor other than 1 and itself.", "C"),
    ("What is $2^{5}$?", ("10", "25", "32", "64"), "$2^5 = 2 \\cdot 2 \\cdot 2 \\cdot 2 \\cdot 2 = 32$.", "C"),
]
_POT_EN = [
    ("A baker makes 24 rolls and sells 3 bags of 5 rolls. How many rolls are left?",
     "rolls = 24\nsold = 3 * 5\nprint(rolls - sold)"),
    ("What is the value of $x$ if $3x + 7 = 22$?",
     "from sympy import symbols, solve\nx = symbols('x')\nprint(solve(3 * x + 7 - 22, x)[0])"),
]

# Tool-integrated exemplars for base models: (question, reasoning, program, its printed output, answer).
# tests/evaluation check that each program prints exactly the output shown.
_TOOL_EN = [
    ("A baker makes 24 rolls and sells 3 bags of 5 rolls. How many rolls are left?",
     "The bags hold 3 * 5 rolls; subtract them from 24.", "print(24 - 3 * 5)", "9", "9"),
    ("What are the solutions of $x^2 - 5x + 6 = 0$?",
     "Let us solve the quadratic with sympy.",
     "from sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**2 - 5*x + 6, x))", "[2, 3]", "2, 3"),
]
_TOOL_ZH = [
    ("小明有15个苹果，送给同学6个，又买了4个。他现在有多少个苹果？",
     "先减去送出的，再加上买的。", "print(15 - 6 + 4)", "13", "13"),
    ("一个长方形长8厘米，宽5厘米，它的面积是多少平方厘米？", "面积等于长乘宽。", "print(8 * 5)", "40", "40"),
]

INSTRUCTION = {
    ("cot", "en"): "Please reason step by step, and put your final answer within \\boxed{}.",
    ("cot", "zh"): "请通过逐步推理来解答问题，并把最终答案放置于\\boxed{}中。",
    ("pot", "en"): "Please write a Python program that prints the final answer, in a ```python block.",
    ("pot", "zh"): "请编写一个输出最终答案的Python程序，放在```python代码块中。",
    ("tool", "en"): "Please integrate natural language reasoning with programs to solve the problem above, "
    "and put your final answer within \\boxed{}.",
    ("tool", "zh"): "请结合自然语言推理与程序来解决上面的问题，并把最终答案放置于\\boxed{}中。",
}

# Where few-shot generation must stop (the model starting the next exemplar) and tool calls pause.
FEW_SHOT_STOP = ["\n\nQuestion:", "\n\n问题："]
TOOL_STOP = ["```output"]


def format_choices(choices: Sequence[str]) -> str:
    return "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(choices))


def question_text(item: BenchmarkItem) -> str:
    """The question as shown to a model: with lettered options for multiple choice."""
    if item.choices:
        return f"{item.question.strip()}\n{format_choices(item.choices)}"
    return item.question.strip()


def _few_shot_cot(item: BenchmarkItem, shots: int) -> str:
    zh = item.lang == "zh"
    q_label, a_label = ("问题：", "答案：") if zh else ("Question: ", "Answer: ")
    blocks = []
    if item.choices:
        for question, choices, reasoning, letter in _CHOICE_EN[:shots]:
            blocks.append(f"{q_label}{question}\n{format_choices(choices)}\n{a_label}{reasoning} "
                          f"The answer is ({letter}).")
    else:
        for question, reasoning, answer in (_COT_ZH if zh else _COT_EN)[:shots]:
            sentence = f"答案是 {answer}。" if zh else f"The answer is {answer}."
            blocks.append(f"{q_label}{question}\n{a_label}{reasoning} {sentence}")
    blocks.append(f"{q_label}{question_text(item)}\n{a_label}")
    return "\n\n".join(blocks)


def _few_shot_pot(item: BenchmarkItem, shots: int) -> str:
    blocks = [f"Question: {q}\nProgram:\n```python\n{code}\n```" for q, code in _POT_EN[:shots]]
    blocks.append(f"Question: {question_text(item)}\nProgram:\n```python\n")
    return "\n\n".join(blocks)


def _few_shot_tool(item: BenchmarkItem, shots: int) -> str:
    """Base-model tool-integrated prompt: exemplars reason, write a ```python block, read its
    ```output block (the format `programs.run_tool_integrated` appends) and box the answer."""
    zh = item.lang == "zh"
    q_label, s_label = ("问题：", "解答：") if zh else ("Question: ", "Solution: ")
    blocks = []
    for question, reasoning, code, output, answer in (_TOOL_ZH if zh else _TOOL_EN)[:shots]:
        ending = f"所以答案是 \\boxed{{{answer}}}。" if zh else f"So the answer is \\boxed{{{answer}}}."
        blocks.append(f"{q_label}{question}\n{s_label}{reasoning}\n```python\n{code}\n```\n```output\n{output}\n```\n"
                      f"{ending}")
    blocks.append(f"{q_label}{question_text(item)}\n{s_label}")
    return "\n\n".join(blocks)


def build_prompt(item: BenchmarkItem, style: Style = "cot", shots: int = 4, chat: bool = False) -> str:
    """The prompt for one item. `chat=True`: instruct-model chat prompt (zero-shot, instruction
    appended); else a few-shot completion prompt for base models (EN or ZH exemplars by item.lang
    for cot and tool; pot exemplars are English)."""
    if style not in ("cot", "pot", "tool"):
        raise ValueError(f"unknown prompt style {style!r} (cot, pot, tool)")
    if chat:
        lang = "zh" if item.lang == "zh" else "en"
        return chat_prompt([{"role": "user", "content": f"{question_text(item)}\n{INSTRUCTION[(style, lang)]}"}])
    few_shot = {"cot": _few_shot_cot, "pot": _few_shot_pot, "tool": _few_shot_tool}[style]
    return few_shot(item, shots)


def stop_sequences(style: Style, chat: bool) -> list[str]:
    """Stop strings for generation in this style (tool calls stop at the output block to run code;
    few-shot prompts also stop where the model starts the next exemplar)."""
    if style == "tool":
        return list(TOOL_STOP) + ([] if chat else list(FEW_SHOT_STOP))
    if style == "pot" and not chat:
        return ["```", *FEW_SHOT_STOP]
    return [] if chat else list(FEW_SHOT_STOP)
