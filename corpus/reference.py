"""Slow, obviously correct reference implementations, for tests and benchmarks/bench_corpus.py only.

Each one restates a rule from the fast module's docstring in plain Python, one character or one
n-gram at a time, so that the vectorised version can be checked against it on random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from corpus.decontaminate import CJK, WORD, BenchmarkText, char_class, normalize_text


def ref_tokens(text: str) -> list[str]:
    """Character by character: alnum runs are tokens, each CJK character is a token, the rest separates."""
    tokens, cur = [], []
    for ch in normalize_text(text):
        cls = char_class(ch)
        if cls == WORD:
            cur.append(ch)
            continue
        if cur:
            tokens.append("".join(cur))
            cur = []
        if cls == CJK:
            tokens.append(ch)
    if cur:
        tokens.append("".join(cur))
    return tokens


def ref_contaminated(docs: Sequence[str], bench: Sequence[BenchmarkText], n: int = 10, min_n: int = 3) -> list[bool]:
    """Per document: does it hold an n-gram of a benchmark text, or a short question's whole token sequence?"""
    grams, shorts = set(), []
    for b in bench:
        t = ref_tokens(b.text)
        grams.update(tuple(t[i:i + n]) for i in range(len(t) - n + 1))
        if b.exact and min_n <= len(t) < n:
            shorts.append(tuple(t))
    out = []
    for d in docs:
        t = ref_tokens(d)
        hit = any(tuple(t[i:i + n]) in grams for i in range(len(t) - n + 1))
        hit = hit or any(tuple(t[i:i + len(s)]) == s for s in shorts for i in range(len(t) - len(s) + 1))
        out.append(hit)
    return out
