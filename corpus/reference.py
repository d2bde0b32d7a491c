"""Slow, obviously correct reference implementations, for tests and benchmarks/bench_corpus.py only.

Each one restates a rule from the fast module's docstring in plain Python, one character or one
n-gram at a time, so that the vectorised version can be checked against it on random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from corpus.decontaminate import CJK, CJK_CHAR_WIDTH, WORD, BenchmarkText, bound_tokens, char_class


def ref_token_spans(text: str) -> list[tuple[str, int, int]]:
    """Character by character over the bounded text (formulas already one word each): alnum runs are
    tokens, each CJK character is a token, the rest separates; then number runs are merged. (token, start, end)."""
    tokens, start = [], None
    chars = bound_tokens(text)
    for i, ch in enumerate(chars + " "):
        cls = char_class(ch)
        if cls == WORD:
            start = i if start is None else start
            continue
        if start is not None:
            tokens.append((chars[start:i], start, i))
            start = None
        if cls == CJK:
            tokens.append((ch, i, i + 1))
    return _ref_number_runs(tokens)


def _is_number(tok: str) -> bool:
    return all("0" <= c <= "9" for c in tok)


def _ref_number_runs(tokens: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Two or more all-digit tokens in a row (a lone `x` may stand between two of them) -> one token
    `nm<d1>d<d2>...`; a single number stays as it is."""
    out, i = [], 0
    while i < len(tokens):
        if not _is_number(tokens[i][0]):
            out.append(tokens[i])
            i += 1
            continue
        j, digits = i + 1, [tokens[i][0]]
        while j < len(tokens):
            if _is_number(tokens[j][0]):
                digits.append(tokens[j][0])
                j += 1
            elif tokens[j][0] == "x" and j + 1 < len(tokens) and _is_number(tokens[j + 1][0]):
                digits.append(tokens[j + 1][0])
                j += 2
            else:
                break
        out.append(("nm" + "d".join(digits), tokens[i][1], tokens[j - 1][2]) if len(digits) > 1 else tokens[i])
        i = j
    return out


def ref_tokens(text: str) -> list[str]:
    return [t for t, _, _ in ref_token_spans(text)]


def _width(spans: list[tuple[str, int, int]], i: int, k: int) -> int:
    """Characters from token i to token i+k-1, each CJK character counting CJK_CHAR_WIDTH."""
    n_cjk = sum(1 for tok, _, _ in spans[i:i + k] if char_class(tok[0]) == CJK)
    return spans[i + k - 1][2] - spans[i][1] + (CJK_CHAR_WIDTH - 1) * n_cjk


def ref_contaminated(docs: Sequence[str], bench: Sequence[BenchmarkText], n: int = 10, min_n: int = 3,
                     min_chars: int = 0) -> list[bool]:
    """Per document: does it hold an n-gram of a benchmark text spanning >= min_chars characters, or a
    short question's whole token sequence spanning >= min_chars // 2? (A CJK character counts CJK_CHAR_WIDTH.)"""
    grams, shorts = set(), []
    for b in bench:
        t = ref_tokens(b.text)
        grams.update(tuple(t[i:i + n]) for i in range(len(t) - n + 1))
        if b.exact and min_n <= len(t) < n:
            shorts.append(tuple(t))
    out = []
    for d in docs:
        spans = ref_token_spans(d)
        t = [tok for tok, _, _ in spans]

        hit = any(tuple(t[i:i + n]) in grams and _width(spans, i, n) >= min_chars for i in range(len(t) - n + 1))
        hit = hit or any(tuple(t[i:i + len(s)]) == s and _width(spans, i, len(s)) >= min_chars // 2
                         for s in shorts for i in range(len(t) - len(s) + 1))
        out.append(hit)
    return out
