"""Answer extraction: the final answer a model (or a reference solution) commits to.

Why our own code: math-verify compares two answers but does not decide *which* span of a long
chain of thought is the answer; DeepSeekMath-style prompts end with `\\boxed{...}` or "The answer
is ...", Chinese prompts with "答案是", and weaker models just end on a number.
Order of preference (first hit wins): last `\\boxed{}`/`\\fbox{}`, last "The answer is"/"答案是",
for multiple-choice a lone choice letter, else the last number in the text.
"""

from __future__ import annotations

import re

from evaluation.normalize import FULL_WIDTH

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:|答案(?:是|为|：|:)|所以答案是)\s*[:：]?\s*(.+)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?|-?\.\d+%?")
_CHOICE = re.compile(r"(?<![A-Za-z])\(?([A-J])\)?(?![A-Za-z])")
_TRAILING = " \t\n.。,，;；:：!！$"


def find_boxed(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}` in `text`, braces balanced, in order.

    One pass with a stack of open braces (linear: a hostile text of a million unclosed boxes must
    not cost a scan to the end per box); unclosed boxes are left out.
    """
    box_braces = {m.end() - 1 for m in _BOXED.finditer(text)}
    if not box_braces:
        return []
    found: list[tuple[int, str]] = []
    stack: list[int] = []
    for brace in _BRACE.finditer(text, min(box_braces)):
        pos = brace.start()
        if brace.group() == "{":
            stack.append(pos)
        elif stack:
            opened = stack.pop()
            if opened in box_braces:
                found.append((opened, text[opened + 1 : pos].strip()))
    return [content for _, content in sorted(found)]


def last_boxed(text: str) -> str | None:
    """The last boxed answer in `text`, or None (MATH's gold rule: the last `\\boxed{}` of the solution)."""
    found = find_boxed(text)
    return found[-1] if found else None


def last_number(text: str) -> str | None:
    """The last number in `text` (commas between digit groups removed), or None."""
    found = _NUMBER.findall(text.translate(FULL_WIDTH))
    return found[-1].replace(",", "").replace(" ", "") if found else None


def _answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    span = matches[-1].group(1).split("\n")[0].strip()
    inner = last_boxed(span)
    if inner is not None:
        return inner
    span = span.strip(_TRAILING)
    span = re.sub(r"^\\\(|\\\)$", "", span).strip()
    return span or None


def extract_choice(text: str, letters: str = "ABCDE") -> str | None:
    """A choice letter: from a box, from "The answer is (C)", else a lone letter at the end of the text."""
    for candidate in (last_boxed(text), _answer_is(text), text.strip()[-12:]):
        if not candidate:
            continue
        hits = [h for h in _CHOICE.findall(candidate.replace("\\text", "")) if h in letters]
        if hits:
            return hits[-1]
    return None


def extract_answer(text: str, choices: bool = False, letters: str = "ABCDE") -> str | None:
    """The final answer in a model output, or None when it commits to nothing.

    `choices=True` for multiple-choice benchmarks: the result is a letter.
    """
    if choices:
        return extract_choice(text, letters)
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _answer_is(text)
    if stated is not None:
        return stated
    return last_number(text)
