"""Answer normalisation and number parsing, before any symbolic comparison.

Why a fast path of our own: most golds are plain numbers (GSM8K, CMATH, SVAMP, ...) and most
predictions are too; comparing them as exact fractions (with a tolerance for decimals) settles
them ~100x faster than math-verify and gets forms it misreads right (`4.5e33` parses there as
4.5*e*33, `1,000` as a tuple). Only what this cannot settle goes to math-verify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|textrm|mathbf)\s*\{([^{}]*)\}")
_SPACES = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_GROUPED = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_FRAC = re.compile(r"([-+]?)\\[dt]?frac\s*\{\s*([-+]?[\d.]+)\s*\}\s*\{\s*([-+]?[\d.]+)\s*\}")
_FRAC_SHORT = re.compile(r"([-+]?)\\[dt]?frac(\d)(\d)")
_SLASH = re.compile(r"([-+]?[\d.]+)\s*/\s*([-+]?[\d.]+)")
_TIMES_TEN = re.compile(r"([-+]?[\d.]+)\s*(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*([-+]?\d+)\s*\}?")
# Words that a number may carry as a unit ("18 dollars", "5 cm^2", "3 小时"); removed when the rest is a number.
_UNIT_TAIL = re.compile(r"^([-+]?[\d.,/]+(?:[eE][-+]?\d+)?)\s*(?:[A-Za-z\u4e00-\u9fff][A-Za-z\u4e00-\u9fff\s.^0-9]*)$")
_CURRENCY = re.compile(r"^(?:\\\$|\$|¥|￥|€|£|rs\.?|Rs\.?)\s*")


# Chinese answers may use full-width digits and signs: "１８", "－３．５", "５０％".
FULL_WIDTH = str.maketrans("０１２３４５６７８９．－＋／％，：", "0123456789.-+/%,:")


@dataclass(frozen=True)
class Number:
    """A parsed numeric answer: exact `value` when written exactly, `percent` when written with %."""

    value: Fraction
    exact: bool
    percent: bool = False


def normalize(text: str) -> str:
    """Canonical text of an answer: no `$`, `\\left`/`\\right`, `\\text{}` wrappers, spacing macros or spaces.

    Used for the exact-match fast path; equal normalised strings are equal answers.
    """
    s = str(text).translate(FULL_WIDTH).strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    s = _SPACES.sub(" ", s)
    for _ in range(3):
        s = _TEXT_WRAPPERS.sub(r"\1", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\displaystyle", "")
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".。")
    if s.startswith("\\(") and s.endswith("\\)"):
        s = s[2:-2]
    return s


def parse_number(text: str, strip_units: bool = False) -> Number | None:
    """The number an answer states, or None when it is not (only) a number.

    Accepts `18`, `-3.5`, `1,000`, `4.5e33`, `4.5\\times10^{33}`, `1/2`, `\\frac{1}{2}`, `50\\%`,
    `90^\\circ`, `\\$18`; with `strip_units`, also a number followed by a unit word (`18 dollars`).
    """
    s = normalize(text)
    s = _CURRENCY.sub("", s)
    s = _DEGREES.sub("", s)
    percent = False
    if s.endswith("\\%") or s.endswith("%"):
        percent, s = True, s.removesuffix("%").removesuffix("\\").strip()
    if strip_units:
        match = _UNIT_TAIL.match(normalize_spaced(text))
        if match:
            s = match.group(1)
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    value = _number_value(s)
    if value is None:
        return None
    return Number(value=value[0], exact=value[1], percent=percent)


def normalize_spaced(text: str) -> str:
    """`normalize` but keeping single spaces (needed to tell a unit word from the number before it)."""
    s = _SPACES.sub(" ", str(text).translate(FULL_WIDTH)).replace("$", "")
    for _ in range(3):
        s = _TEXT_WRAPPERS.sub(r"\1", s)
    s = _CURRENCY.sub("", s.strip())
    return re.sub(r"\s+", " ", s).strip().rstrip(".。")


MAX_EXPONENT = 400  # beyond this a number is not exact arithmetic's job (and 10**huge would stall grading)


def _to_fraction(token: str) -> Fraction | None:
    exponent = re.search(r"[eE]([-+]?\d+)$", token)
    if exponent and abs(int(exponent.group(1))) > MAX_EXPONENT or len(token) > 1000:
        return None
    try:
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def _number_value(s: str) -> tuple[Fraction, bool] | None:
    """(value, exact) for a bare numeric token; `exact` is False for decimals (they get a tolerance)."""
    if _DECIMAL.fullmatch(s):
        value = _to_fraction(s)
        return None if value is None else (value, "." not in s and "e" not in s.lower())
    for pattern in (_FRAC, _FRAC_SHORT):
        match = pattern.fullmatch(s)
        if match:
            num, den = _to_fraction(match.group(2)), _to_fraction(match.group(3))
            if num is None or den in (None, 0):
                return None
            sign = -1 if match.group(1) == "-" else 1
            return sign * num / den, True
    match = _SLASH.fullmatch(s)
    if match:
        num, den = _to_fraction(match.group(1)), _to_fraction(match.group(2))
        if num is None or den in (None, 0):
            return None
        return num / den, True
    match = _TIMES_TEN.fullmatch(s)
    if match:
        mantissa, exponent = _to_fraction(match.group(1)), int(match.group(2))
        if mantissa is None or abs(exponent) > MAX_EXPONENT:
            return None
        return mantissa * Fraction(10) ** exponent, False
    return None


def numbers_close(a: Fraction, b: Fraction, rel_tol: float, abs_tol: float) -> bool:
    """|a - b| <= max(abs_tol, rel_tol * max(|a|, |b|)), computed exactly on fractions."""
    return abs(a - b) <= max(Fraction(abs_tol), Fraction(rel_tol) * max(abs(a), abs(b)))
