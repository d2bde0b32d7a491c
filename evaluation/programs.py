"""Program of thought and tool-integrated reasoning: running model code and reading what it prints.

Why the Python-to-LaTeX step: math-verify parses LaTeX, not Python, so a printed `3*sqrt(2)`
would read as 3 and `pi/4`, `x**2 + 1`, `[-2, 1]` not at all. The printed text is untrusted, so it
is never `eval`ed (nor given to sympy's `parse_expr`, which evals): its Python AST is walked and
only numbers, names, arithmetic, tuples/lists and a few math functions become a sympy expression,
built unevaluated (no `2**10**10` blow-up), then printed with `sympy.latex`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from typing import Literal

from evaluation.sandbox import SandboxPool, SandboxResult

_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_OPEN_BLOCK = re.compile(r"```(?:python|py)[ \t]*\n(.*)$", re.DOTALL)
_FUNCTIONS = {"sqrt", "exp", "log", "ln", "sin", "cos", "tan", "asin", "acos", "atan", "Abs", "abs",
              "Rational", "factorial", "binomial", "floor", "ceiling", "cbrt", "root"}
_CONSTANTS = {"pi": "pi", "E": "E", "e": "E", "I": "I", "oo": "oo", "inf": "oo", "nan": None}
_ANY_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
# Where a program-of-thought completion holds its program: a ```python block (chat prompts), the whole
# completion ("code": the prompt opened the block), PAL GSM8K's `def solution()` (called and printed),
# PAL MATH's code block and imports block (its `answer` printed).
PotFormat = Literal["markdown", "code", "pal_function", "pal_answer"]


def extract_program(text: str) -> str | None:
    """The last complete ```python block in `text`; else an unclosed final block; else None."""
    blocks = _CODE_BLOCK.findall(text)
    if blocks:
        return blocks[-1]
    match = _OPEN_BLOCK.search(text)
    return match.group(1) if match else None


def pot_program(completion: str, program_format: PotFormat) -> str | None:
    """The runnable program of a program-of-thought completion, or None when it holds none."""
    if program_format == "code":
        return completion
    if program_format == "markdown":
        return extract_program(completion)
    if program_format == "pal_function":
        return f"{completion}\n\nprint(solution())" if "def solution(" in completion else None
    if program_format == "pal_answer":
        blocks = _ANY_BLOCK.findall(completion)
        if not blocks:
            return None
        imports = blocks[1] if len(blocks) > 1 else ""
        return f"{imports}\n{blocks[0]}\nprint(answer)"
    raise ValueError(f"unknown program format {program_format!r}")


def _to_sympy(node: ast.AST):  # noqa: ANN202 - returns a sympy Basic
    import sympy

    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(repr(node.value))
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return sympy.true if node.value else sympy.false
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS and _CONSTANTS[node.id]:
            return getattr(sympy, _CONSTANTS[node.id])
        if re.fullmatch(r"[A-Za-z]\w{0,15}", node.id):
            return sympy.Symbol(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _to_sympy(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        a, b = _to_sympy(node.left), _to_sympy(node.right)
        ops = {
            ast.Add: lambda: sympy.Add(a, b, evaluate=False),
            ast.Sub: lambda: sympy.Add(a, sympy.Mul(-1, b, evaluate=False), evaluate=False),
            ast.Mult: lambda: sympy.Mul(a, b, evaluate=False),
            ast.Div: lambda: sympy.Mul(a, sympy.Pow(b, -1, evaluate=False), evaluate=False),
            ast.Pow: lambda: sympy.Pow(a, b, evaluate=False),
        }
        if type(node.op) in ops:
            return ops[type(node.op)]()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords:
        name = {"ln": "log", "abs": "Abs"}.get(node.func.id, node.func.id)
        args = [_to_sympy(a) for a in node.args]
        return getattr(sympy, name)(*args, evaluate=False) if name != "Rational" else sympy.Rational(*args)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return tuple(_to_sympy(e) for e in node.elts)
    raise ValueError(f"not a math expression: {ast.dump(node)[:80]}")


def python_output_to_latex(output: str) -> str | None:
    """The last printed line as LaTeX: `3*sqrt(2)` -> `3 \\sqrt{2}`, `[-2, 1]` -> `-2, 1`; None if empty.
    Lines that are not a math expression (words, units) are returned as they are.

    Runs sympy in this process with no time limit: for model output use `SandboxPool.to_latex`,
    which runs it confined and killable (`run_pot` does)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    if len(last) > 2000:
        return last
    try:
        import sympy

        expr = _to_sympy(ast.parse(last, mode="eval").body)
        if isinstance(expr, tuple):
            return ", ".join(sympy.latex(e) for e in expr)
        return sympy.latex(expr)
    except (SyntaxError, ValueError, TypeError, RecursionError, AttributeError):
        return last


def run_pot(completions: Sequence[str], pool: SandboxPool, prompt_ends_in_code: bool = False,
            program_format: PotFormat | Sequence[PotFormat] | None = None) -> list[tuple[str | None, SandboxResult | None]]:
    """Program of thought: run each completion's program; the answer is its last printed line (as LaTeX).

    `program_format`: one for all completions or one each (`PotFormat`; `prompts.pot_format` says
    which a prompt asks for); by default "markdown", or "code" with `prompt_ends_in_code`.
    A completion with no program, or whose program fails, has answer None.
    """
    program_format = program_format or ("code" if prompt_ends_in_code else "markdown")
    formats = [program_format] * len(completions) if isinstance(program_format, str) else list(program_format)
    programs = [pot_program(c, f) for c, f in zip(completions, formats, strict=True)]  # type: ignore[arg-type]
    runnable = [i for i, p in enumerate(programs) if p]
    results = pool.run_many([programs[i] for i in runnable])  # type: ignore[misc]
    out: list[tuple[str | None, SandboxResult | None]] = [(None, None)] * len(completions)
    finished = [(index, result) for index, result in zip(runnable, results, strict=True) if result.ok]
    latex = pool.to_latex_many([result.output for _, result in finished])
    for index, result in zip(runnable, results, strict=True):
        out[index] = (None, result)
    for (index, result), answer in zip(finished, latex, strict=True):
        out[index] = (answer, result)
    return out


Generate = Callable[[list[str], list[str]], list[str]]


def run_tool_integrated(prompts: Sequence[str], generate: Generate, pool: SandboxPool, max_calls: int = 4,
                        max_output_chars: int = 2000, stop: Sequence[str] = ("```output",)) -> list[str]:
    """Tool-integrated reasoning for a batch of prompts; returns each full completion.

    Loop: generate until the model stops (or writes "```output"); if what it wrote ends with a
    closed ```python block, run that block in the sandbox, append "```output\\n...\\n```\\n" and
    continue; stop after `max_calls` executions or when a turn ends without a new program.
    `generate(texts, stop)` returns one continuation per text (the backend's greedy/sampled step);
    `stop` must hold "```output" (few-shot prompts add the start of the next exemplar).
    """
    completions = ["" for _ in prompts]
    active = list(range(len(prompts)))
    for turn in range(max_calls + 1):
        if not active:
            break
        outputs = generate([prompts[i] + completions[i] for i in active], list(stop))
        next_active, to_run = [], []
        for index, text in zip(active, outputs, strict=True):
            completions[index] += text
            program = _trailing_program(text)
            if program is not None:
                to_run.append((index, program))
        if to_run and turn < max_calls:
            results = pool.run_many([p for _, p in to_run])
            for (index, _), result in zip(to_run, results, strict=True):
                shown = result.output[-max_output_chars:] if result.ok else f"Error: {result.reason}\n{result.output[-500:]}"
                completions[index] += f"```output\n{shown.strip()}\n```\n"
                next_active.append(index)
        active = next_active
    return completions


def _trailing_program(text: str) -> str | None:
    """The program of a turn that ends right after a closed ```python block (the model asks to run it)."""
    stripped = text.rstrip()
    if not stripped.endswith("```"):
        return None
    blocks = list(_CODE_BLOCK.finditer(stripped))
    if not blocks or blocks[-1].end() != len(stripped):
        return None
    return blocks[-1].group(1)
