"""Prompts, answer extraction, PoT execution and the tool-integrated loop (real sandbox, scripted model)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evaluation.answers import extract_answer, extract_choice, find_boxed, last_number
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import is_correct
from evaluation.programs import extract_program, python_output_to_latex, run_pot, run_tool_integrated
from evaluation.prompts import _TOOL_EN, _TOOL_ZH, build_prompt, chat_prompt, stop_sequences
from evaluation.sandbox import SandboxConfig, SandboxPool

GSM = BenchmarkItem("gsm8k", "g-1", "Tom has 3 apples and buys 4. How many?", "7", answer_type="number")
CMATH = BenchmarkItem("cmath", "c-1", "3加4等于几？", "7", lang="zh", answer_type="number")
MC = BenchmarkItem("mmlu_stem", "m-1", "2+2?", "B", choices=("3", "4", "5", "6"), answer_type="choice")


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxConfig(workers=2, cpu_time_s=2, wall_time_s=5)) as sandbox:
        yield sandbox


def test_extraction() -> None:
    assert find_boxed("a \\boxed{\\frac{1}{2}} b \\boxed{x^{2}}") == ["\\frac{1}{2}", "x^{2}"]
    assert extract_answer("so $x = 3$. The answer is 12.") == "12"
    assert extract_answer("We get \\boxed{\\left(3, \\frac{\\pi}{2}\\right)}.") == "\\left(3, \\frac{\\pi}{2}\\right)"
    assert extract_answer("所以一共有 13 个苹果。答案是 13。") == "13"
    assert extract_answer("最后得到 2,400 元") == "2400"
    assert extract_answer("一共是１８个") == "18"
    assert extract_answer("no numbers here") is None
    assert last_number("costs $1,234.50 in total") == "1234.50"
    assert extract_choice("Thus the answer is (C).") == "C"
    assert extract_choice("\\boxed{B}") == "B"
    assert extract_answer("I pick D", choices=True) == "D"


def test_prompts() -> None:
    few = build_prompt(GSM, "cot", shots=2)  # the paper's Wei et al. exemplars, Q:/A:
    assert few.count("\nQ: ") == 2 and few.endswith(f"\n\n\nQ: {GSM.question}\nA:")
    assert build_prompt(GSM, "cot").count("The answer is") == 8  # all shots by default
    zh = build_prompt(CMATH, "cot", shots=2)
    assert zh.count("问题：") == 3 and "所以答案是：9。" in zh
    mc = build_prompt(MC, "cot", shots=1)
    assert mc.endswith("2+2?\nWhat of the following is the right choice? Explain your answer.\n"
                       "(A) 3, (B) 4, (C) 5, (D) 6\nSolution:") and "The final answer is (B)." in mc
    chat = build_prompt(GSM, "cot", chat=True)
    assert chat == f"User: {GSM.question}\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n\nAssistant:"
    assert "逐步推理" in build_prompt(CMATH, "cot", chat=True)
    assert build_prompt(GSM, "pot", shots=1).endswith(f"Q: {GSM.question}\n\n# solution in Python:")
    assert "integrate natural language reasoning with programs" in build_prompt(GSM, "tool", chat=True)
    assert "结合自然语言推理与程序" in build_prompt(CMATH, "tool", chat=True)
    assert stop_sequences("tool", True) == ["```output"]
    assert chat_prompt([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], False) == "User: hi\n\nAssistant: yo"
    with pytest.raises(ValueError):
        build_prompt(GSM, "essay")  # type: ignore[arg-type]


@pytest.mark.parametrize(("printed", "gold"), [
    ("3*sqrt(2)", "\\sqrt{18}"), ("pi/4", "\\frac{\\pi}{4}"), ("x**2 + 1", "1 + x^2"), ("[-2, 1]", "\\{-2, 1\\}"),
    ("7", "7"), ("0.5", "\\frac{1}{2}"), ("Rational(-7, 2)", "-3.5"),
])
def test_program_output_graded_as_math(printed: str, gold: str) -> None:
    assert is_correct(python_output_to_latex(f"debug line\n{printed}\n"), gold)


def test_program_output_is_never_evaluated() -> None:
    assert python_output_to_latex("__import__('os').system('touch /tmp/mf-pwned')") is not None
    assert python_output_to_latex("") is None
    assert extract_program("text\n```python\nprint(1)\n```\nmore\n```python\nprint(2)\n```") == "print(2)\n"
    assert extract_program("no code") is None


@pytest.mark.timeout(60)
def test_pot_runs_programs_in_the_sandbox(pool: SandboxPool) -> None:
    completions = [
        "Let me compute.\n```python\nfrom sympy import sqrt\nprint(3 * sqrt(2))\n```",
        "```python\nwhile True: pass\n```",
        "no program",
    ]
    answers = run_pot(completions, pool)
    assert is_correct(answers[0][0], "\\sqrt{18}")
    assert answers[1][0] is None and answers[1][1] is not None and answers[1][1].reason in ("cpu_time", "timeout")
    assert answers[2] == (None, None)
    assert run_pot(["a = 6\nprint(a * 7)\n"], pool, prompt_ends_in_code=True)[0][0] == "42"


@pytest.mark.timeout(60)
def test_tool_integrated_loop(pool: SandboxPool) -> None:
    """A scripted model: writes code, reads the output block, then answers from it."""
    calls: list[list[str]] = []

    def generate(texts: list[str], stop: list[str]) -> list[str]:
        calls.append(texts)
        out = []
        for text in texts:
            if "```output" not in text:
                out.append("I will compute it.\n```python\nprint(17 * 23)\n```\n")
            else:
                printed = text.split("```output\n")[-1].split("\n```")[0]
                out.append(f"The program printed {printed}, so the answer is \\boxed{{{printed}}}.")
        return out

    (completion,) = run_tool_integrated(["User: 17*23?\n\nAssistant:"], generate, pool, max_calls=3)
    assert "```output\n391\n```" in completion and extract_answer(completion) == "391"
    assert len(calls) == 2

    def loop_forever(texts: list[str], stop: list[str]) -> list[str]:
        return ["```python\nprint(1)\n```" for _ in texts]

    (looping,) = run_tool_integrated(["q"], loop_forever, pool, max_calls=2)
    assert looping.count("```output") == 2  # capped at max_calls executions


def test_few_shot_tool_prompts_for_base_models() -> None:
    en = build_prompt(GSM, "tool", shots=2)
    assert en.count("Question: ") == 3 and en.count("```output\n") == 2 and "\\boxed{9}" in en
    assert en.endswith(f"Question: {GSM.question}\nSolution: ") and "User:" not in en
    zh = build_prompt(CMATH, "tool", shots=2)
    assert zh.count("问题：") == 3 and "所以答案是 \\boxed{13}。" in zh and zh.endswith("3加4等于几？\n解答：")
    assert "Question:" not in zh
    assert build_prompt(GSM, "tool", shots=1).count("```python") == 1
    mc = build_prompt(MC, "tool", shots=1)
    assert mc.endswith("(D) 6\nSolution: ")
    assert stop_sequences("tool", False) == ["```output", "\n\nQuestion:", "\n\n问题："]


@pytest.mark.timeout(60)
def test_tool_exemplars_print_what_they_show(pool: SandboxPool) -> None:
    """A base model imitates the exemplars: an exemplar whose shown output is not what its program
    prints, or whose boxed answer does not follow from it, teaches it wrong."""
    exemplars = _TOOL_EN + _TOOL_ZH
    results = pool.run_many([code for _, _, code, _, _ in exemplars])
    for (_, _, code, output, answer), result in zip(exemplars, results, strict=True):
        assert result.ok and result.output.strip() == output, (code, result)
        assert is_correct(python_output_to_latex(result.output), answer)


@pytest.mark.timeout(60)
def test_tool_loop_on_a_few_shot_prompt_stops_before_the_next_exemplar(pool: SandboxPool) -> None:
    """A scripted base model that would run on into a new "Question:": the stop strings cut it."""
    seen_stops: list[list[str]] = []

    def generate(texts: list[str], stop: list[str]) -> list[str]:
        seen_stops.append(stop)
        out = []
        for text in texts:
            asked = text.split("问题：")[-1]
            if "```output" not in asked:
                full = "先算乘法。\n```python\nprint(6 * 7)\n```\n```output\n41\n```\n所以答案是 \\boxed{41}。"
            else:
                printed = asked.split("```output\n")[-1].split("\n```")[0]
                full = f"所以答案是 \\boxed{{{printed}}}。\n\n问题：下一个问题？\n解答：```python\nprint(0)\n```"
            cut = min((full.find(s) for s in stop if s in full), default=len(full))
            out.append(full[:cut])
        return out

    item = BenchmarkItem("cmath", "c-2", "6乘7等于几？", "42", lang="zh", answer_type="number")
    prompt = build_prompt(item, "tool", shots=2)
    (completion,) = run_tool_integrated([prompt], generate, pool, max_calls=3, stop=stop_sequences("tool", False))
    assert completion.count("```output") == 1 and "```output\n42\n```" in completion
    assert completion.endswith("所以答案是 \\boxed{42}。") and extract_answer(completion) == "42"
    assert all("\n\n问题：" in stop for stop in seen_stops) and len(seen_stops) == 2
