"""Answer extraction: the final answer a model (or a reference solution) commits to.

Why our own code: math-verify compares two answers but does not decide *which* span of a long
chain of thought is the answer; DeepSeekMath-style prompts end with `\\boxed{...}` or "The answer
is ...", Chinese prompts with "答案是", and weaker models just end on a number.
Order of preference (first hit wins): last `\\boxed{}`/`\\fbox{}`, last "The answer is"/"答案是"
(the paper prompts' conventions: Wei et al. "The answer is 6.", Minerva "Final Answer: The final
answer is $24$. I hope it is correct.", CMATH "所以答案是：9。"; a stated `$x = \\frac{3}{4}$`
gives its right side), for multiple-choice a lone choice letter, else the last number in the text,
unless that number ends a math span (`$x = \\frac{3}{4}$.` gives `\\frac{3}{4}`, not 4). A time or
ratio (`5:45`, `3:4`) is one token, never its last part.
"""

from __future__ import annotations

import re

from evaluation.normalize import FULL_WIDTH

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
# the phrase only: the answer is what follows the last phrase on its line (linear: a text repeating the
# phrase half a million times costs one scan)
_ANSWER_IS = re.compile(
    r"(?:(?:the\s+)?(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:|答案(?:是|为|：|:)|所以答案是)\s*[:：]?\s*",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+:\d+|-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?|-?\.\d+%?")
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_HOPE = re.compile(r"\s*I hope it is correct\.?\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|。")
_SIMPLE_LHS = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=\S)")
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


def _right_side(expression: str) -> str:
    """`x = \\frac{3}{4}` -> `\\frac{3}{4}`: a single (subscripted) letter equal to a constant; an
    equation answer such as `y = 2x + 3` keeps its form."""
    expression = expression.strip()
    right = _SIMPLE_LHS.sub("", expression)
    return right.strip() if not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", right)) else expression


def _answer_is(text: str) -> str | None:
    last = None
    for last in _ANSWER_IS.finditer(text):  # noqa: B007 - only the last match counts
        pass
    if last is None:
        return None
    span = text[last.end() :].split("\n", 1)[0].strip()  # "Final Answer: The final answer is X": X
    span = _HOPE.sub("", span)
    inner = last_boxed(span)
    if inner is not None:
        return inner
    math = _MATH_SPAN.match(span)
    if math is not None:  # "$24$. I hope ..." -> the math span, whatever follows
        return _right_side(next(g for g in math.groups() if g is not None)) or None
    span = _SENTENCE_END.split(span, maxsplit=1)[0].strip(_TRAILING)
    return _right_side(span) or None


def _last_number_or_span(text: str) -> str | None:
    """The last number, or the math span it ends (`$x = \\frac{3}{4}$.` -> `\\frac{3}{4}`, not `4`)."""
    numbers = list(_NUMBER.finditer(text.translate(FULL_WIDTH)))
    if not numbers:
        return None
    last = numbers[-1]
    spans = list(_MATH_SPAN.finditer(text, max(0, last.start() - 2000)))
    for span in reversed(spans):
        if span.start() <= last.start() and last.end() <= span.end():
            return _right_side(next(g for g in span.groups() if g is not None)) or None
    return last.group().replace(",", "").replace(" ", "")


def extract_choice(text: str, letters: str = "ABCDE") -> str | None:
    """A choice letter: from a box, from "The answer is (C)", else a lone letter at the end of the text."""
    for candidate in (last_boxed(text), _answer_is(text), text.strip()[-12:]):
        if not candidate:
            continue
        hits = [h for h in _CHOICE.findall(candidate.replace("\\text", "")) if h in letters]
        if hits:
            return hits[-1]
    return None


MAX_SCAN_CHARS = 200_000  # far beyond any generation limit; a longer (hostile) text is read from its tail


def extract_answer(text: str, choices: bool = False, letters: str = "ABCDE") -> str | None:
    """The final answer in a model output, or None when it commits to nothing.

    `choices=True` for multiple-choice benchmarks: the result is a letter. Only the last
    `MAX_SCAN_CHARS` characters are read (the answer is at the end; every step is linear anyway).
    """
    text = text[-MAX_SCAN_CHARS:]
    if choices:
        return extract_choice(text, letters)
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _answer_is(text)
    if stated is not None:
        return stated
    return _last_number_or_span(text)
