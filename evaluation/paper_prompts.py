"""The paper's few-shot evaluation prompts, read from byte-for-byte copies of the published files.

Why read the files rather than retype them: base-model numbers are only comparable with the
paper's when every exemplar, separator and stop word is the same, and a retyped prompt drifts. The
files in `prompt_data/deepseek-math/` (source, commit and licence in its SOURCES.md) are Python
modules of DeepSeek-Math's harness; they are parsed with `ast`, never imported: each holds
`few_shot_prompt` (the exemplars; the last assignment wins, as in Python), a class whose
`format_prompt(task_input, task_output)` is one f-string followed by `.rstrip()`, and whose
`stop_words()` returns a list literal. Rendering with all shots reproduces `format_prompt(question, "")`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPT_DIR = Path(__file__).resolve().parent / "prompt_data" / "deepseek-math"
FIELDS = ("few_shot_prompt", "task_input", "task_output")


class PromptError(ValueError):
    """A prompt file that cannot be read as expected, or a request it cannot satisfy (too many shots)."""


@dataclass(frozen=True)
class PaperPrompt:
    """One published prompt. `template` alternates literal text and `{field}` names (FIELDS);
    `exemplars` is None when the exemplars cannot be told apart (then only 0 or all shots work)."""

    name: str
    few_shot: str
    template: tuple[tuple[str, str], ...]  # ("text", literal) or ("field", name)
    stop_words: tuple[str, ...]
    shots: int
    exemplars: tuple[str, ...] | None

    @property
    def separator(self) -> str:
        """The text between the exemplars and the question (also between two exemplars)."""
        return self.template[1][1]

    def render(self, task_input: str, shots: int | None = None) -> str:
        """The prompt for one question with the first `shots` exemplars (None: all, as published)."""
        shots = self.shots if shots is None else shots
        if not 0 <= shots <= self.shots:
            raise PromptError(f"{self.name}: {shots} shots requested, the paper's prompt has {self.shots}")
        if 0 < shots < self.shots and self.exemplars is None:
            raise PromptError(f"{self.name}: its exemplars cannot be separated; use 0 or {self.shots} shots")
        few_shot = self.few_shot if shots == self.shots else self.separator.join((self.exemplars or ())[:shots])
        values = {"few_shot_prompt": few_shot, "task_input": task_input, "task_output": ""}
        parts = [values[value] if kind == "field" else value for kind, value in self.template]
        if shots == 0:  # no exemplars: the question block starts the prompt
            parts = [parts[1].lstrip("\n"), *parts[2:]]
        return "".join(parts).rstrip()


def _string_value(node: ast.expr, where: str) -> str:
    """A string literal, or a string literal's `.strip()`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "strip"
            and not node.args and isinstance(node.func.value, ast.Constant)):
        return str(node.func.value.value).strip()
    raise PromptError(f"{where}: few_shot_prompt is not a string literal")


def _method(cls: ast.ClassDef, name: str, where: str) -> ast.FunctionDef:
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise PromptError(f"{where}: class {cls.name} has no {name}()")


def _template(method: ast.FunctionDef, where: str) -> tuple[tuple[str, str], ...]:
    """The f-string of `prompt = f"..."; return prompt.rstrip()` as literal and field parts."""
    assign, ret = method.body[0], method.body[-1]
    ok = (isinstance(assign, ast.Assign) and isinstance(assign.value, ast.JoinedStr) and isinstance(ret, ast.Return)
          and ast.unparse(ret.value) == "prompt.rstrip()")
    if not ok:
        raise PromptError(f"{where}: format_prompt is not `prompt = f'...'; return prompt.rstrip()`")
    parts: list[tuple[str, str]] = []
    for value in assign.value.values:  # type: ignore[union-attr]
        if isinstance(value, ast.Constant):
            parts.append(("text", str(value.value)))
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) and value.value.id in FIELDS:
            parts.append(("field", value.value.id))
        else:
            raise PromptError(f"{where}: unexpected f-string part {ast.unparse(value)}")
    if [k for k, _ in parts[:3]] != ["field", "text", "field"] or parts[0][1] != "few_shot_prompt":
        raise PromptError(f"{where}: the template must start with {{few_shot_prompt}}, a separator, {{task_input}}")
    return tuple(parts)


@cache
def load_prompt(name: str, folder: Path = PROMPT_DIR) -> PaperPrompt:
    """The prompt in `folder/name.py` (e.g. "cot_gsm_8_shot")."""
    path = folder / f"{name}.py"
    if not path.is_file():
        raise PromptError(f"{path}: no such prompt file")
    where = str(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
    few_shot = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["few_shot_prompt"]:
            few_shot = _string_value(node.value, where)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    if few_shot is None or len(classes) != 1:
        raise PromptError(f"{where}: expected one few_shot_prompt string and one prompt class")
    template = _template(_method(classes[0], "format_prompt", where), where)
    stop_body = _method(classes[0], "stop_words", where).body[-1]
    if not isinstance(stop_body, ast.Return) or stop_body.value is None:
        raise PromptError(f"{where}: stop_words() does not return a list literal")
    stop_words = tuple(ast.literal_eval(stop_body.value))
    declared = re.search(r"_(\d+)_shot$", name)
    pieces = few_shot.split(template[1][1])
    if len(pieces) > 1:
        exemplars: tuple[str, ...] | None = tuple(pieces)
        shots = len(pieces)
    elif declared:
        exemplars, shots = None, int(declared.group(1))
    else:
        raise PromptError(f"{where}: cannot count the exemplars (no separator match, no _N_shot in the name)")
    return PaperPrompt(name, few_shot, template, stop_words, shots, exemplars)
