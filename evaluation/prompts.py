"""Prompts: the paper's few-shot prompts for base models, tool-integrated few-shot, and the chat template.

Why plain functions: SFT data building and GRPO sampling must produce byte-identical prompts to the
ones evaluation used, so the template is one function (`chat_prompt`) that they import. Base models
get the paper's own few-shot prompts (`paper_prompts`: GSM8K 8-shot Wei et al. `Q:`/`A:`, MATH 4-shot
Minerva, CMATH 6-shot, MMLU-STEM, SAT, OCW, Gaokao, PAL program of thought), with the paper's
separators and stop words; instruct models get the chat template with the DeepSeekMath instruction
(final answer in \\boxed{}). The base-model tool-integrated exemplars are our own: the paper
evaluated tool use on instruct models only, zero-shot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from evaluation.benchmarks import LETTERS, BenchmarkItem
from evaluation.chat_template import chat_prompt
from evaluation.paper_prompts import PaperPrompt, PromptError, load_prompt
from evaluation.programs import PotFormat

Style = Literal["cot", "pot", "tool"]

# benchmark -> paper prompt (cot, pot), as in the paper's few_shot_test_configs.json
PAPER_PROMPTS: dict[str, tuple[str, str | None]] = {
    "gsm8k": ("cot_gsm_8_shot", "pal_gsm_8_shot"),
    "math": ("cot_minerva_math_4_shot", "pal_math_4_shot"),
    "cmath": ("cot_cmath_6_shot", None),
    "mmlu_stem": ("cot_mmlu_stem_4_shot", None),
    "sat": ("cot_math_sat_4_shot", None),
    "ocw": ("cot_ocwcourses_4_shot", None),
    "gaokao_mathcloze": ("cot_gaokao_mathcloze_5_shot", None),
    "gaokao_mathqa": ("cot_gaokao_mathqa_5_shot", None),
}
# Not in that map: the nearest paper prompt (MGSM-zh as CMATH: Chinese grade-school word problems;
# MATH-500 as MATH; other word problems as GSM8K; other multiple choice as MMLU-STEM), see `paper_prompt_for`.
NEAREST = {"mgsm_zh": "cmath", "math500": "math", "svamp": "gsm8k", "asdiv": "gsm8k", "mawps": "gsm8k",
           "gsm_hard": "gsm8k"}
CHOICE_QUESTION = {  # how each multiple-choice prompt shows the options (as in its exemplars)
    "cot_mmlu_stem_4_shot": ("\nWhat of the following is the right choice? Explain your answer.\n", "({}) {}", ", "),
    "cot_math_sat_4_shot": ("\nWhat of the following is the right choice? Explain your answer.\n", "({}) {}", ", "),
    "cot_gaokao_mathqa_5_shot": ("\n从以下选项中选择:    ", "({}){}", " "),
}

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

# Where tool-integrated few-shot generation must stop (the model starting the next exemplar) and pauses.
FEW_SHOT_STOP = ["\n\nQuestion:", "\n\n问题："]
TOOL_STOP = ["```output"]


def format_choices(choices: Sequence[str]) -> str:
    return "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(choices))


def question_text(item: BenchmarkItem) -> str:
    """The question as shown to a model: with lettered options for multiple choice."""
    if item.choices:
        return f"{item.question.strip()}\n{format_choices(item.choices)}"
    return item.question.strip()


def paper_prompt_for(item: BenchmarkItem, style: Literal["cot", "pot"]) -> PaperPrompt:
    """The paper's prompt for this item's benchmark (or the nearest one, `NEAREST`, else by language
    and answer kind); program of thought uses PAL GSM8K for word problems, PAL MATH otherwise."""
    name = NEAREST.get(item.benchmark, item.benchmark)
    if name not in PAPER_PROMPTS:
        if item.lang == "zh":
            name = "gaokao_mathqa" if item.answer_type == "choice" else "cmath"
        else:
            name = {"choice": "mmlu_stem", "number": "gsm8k"}.get(item.answer_type, "math")
    cot, pot = PAPER_PROMPTS[name]
    if style == "pot":
        pot = pot or ("pal_gsm_8_shot" if item.answer_type == "number" else "pal_math_4_shot")
        return load_prompt(pot)
    return load_prompt(cot)


def paper_task_input(item: BenchmarkItem, prompt: PaperPrompt) -> str:
    """The question as the paper's harness put it into this prompt (options in the exemplars' layout)."""
    if not item.choices:
        return item.question.strip()
    lead, option, joiner = CHOICE_QUESTION.get(prompt.name, CHOICE_QUESTION["cot_mmlu_stem_4_shot"])
    options = joiner.join(option.format(LETTERS[i], str(text).strip()) for i, text in enumerate(item.choices))
    return f"{item.question.strip()}{lead}{options}"


def _few_shot_tool(item: BenchmarkItem, shots: int | None) -> str:
    """Base-model tool-integrated prompt: exemplars reason, write a ```python block, read its
    ```output block (the format `programs.run_tool_integrated` appends) and box the answer."""
    zh = item.lang == "zh"
    exemplars = _TOOL_ZH if zh else _TOOL_EN
    shots = len(exemplars) if shots is None else shots
    if not 0 <= shots <= len(exemplars):
        raise PromptError(f"tool prompt: {shots} shots requested, it has {len(exemplars)}")
    q_label, s_label = ("问题：", "解答：") if zh else ("Question: ", "Solution: ")
    blocks = []
    for question, reasoning, code, output, answer in exemplars[:shots]:
        ending = f"所以答案是 \\boxed{{{answer}}}。" if zh else f"So the answer is \\boxed{{{answer}}}."
        blocks.append(f"{q_label}{question}\n{s_label}{reasoning}\n```python\n{code}\n```\n```output\n{output}\n```\n"
                      f"{ending}")
    blocks.append(f"{q_label}{question_text(item)}\n{s_label}")
    return "\n\n".join(blocks)


def build_prompt(item: BenchmarkItem, style: Style = "cot", shots: int | None = None, chat: bool = False) -> str:
    """The prompt for one item. `chat=True`: instruct-model chat prompt (zero-shot, instruction
    appended); else a few-shot completion prompt for base models: the paper's prompt for cot and pot
    (`paper_prompt_for`), ours for tool. `shots=None`: all the prompt's exemplars (the paper's
    setting); more than it has is an error (`PromptError`), never a silent cut."""
    if style not in ("cot", "pot", "tool"):
        raise ValueError(f"unknown prompt style {style!r} (cot, pot, tool)")
    if chat:
        lang = "zh" if item.lang == "zh" else "en"
        return chat_prompt([{"role": "user", "content": f"{question_text(item)}\n{INSTRUCTION[(style, lang)]}"}])
    if style == "tool":
        return _few_shot_tool(item, shots)
    prompt = paper_prompt_for(item, style)
    return prompt.render(paper_task_input(item, prompt), shots)


def stop_sequences(style: Style, chat: bool, item: BenchmarkItem | None = None) -> list[str]:
    """Stop strings for generation in this style: the paper prompt's own stop words for base-model
    cot/pot (for `item`'s prompt; without an item, those of every paper prompt); tool calls stop at
    the output block to run code, tool few-shot also where the model starts the next exemplar."""
    if style == "tool":
        return list(TOOL_STOP) + ([] if chat else list(FEW_SHOT_STOP))
    if chat:
        return []
    if item is not None:
        return list(paper_prompt_for(item, style).stop_words)
    names = {names[0 if style == "cot" else 1] for names in PAPER_PROMPTS.values()} - {None}
    return sorted({word for name in names for word in load_prompt(str(name)).stop_words})


def pot_format(item: BenchmarkItem, chat: bool) -> PotFormat:
    """How a program-of-thought completion holds its program: a ```python block (chat), a PAL
    `def solution()` (PAL GSM8K) or PAL MATH's code block plus imports block setting `answer`."""
    if chat:
        return "markdown"
    return "pal_function" if paper_prompt_for(item, "pot").name.startswith("pal_gsm") else "pal_answer"
