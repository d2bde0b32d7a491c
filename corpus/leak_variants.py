"""Planted benchmark leaks in the ways pages rewrite a question, for measuring decontamination recall.

Each variant keeps the question's words and formulas and changes what a copy-paste or a page template
changes: whitespace, case, punctuation, line breaks, or HTML markup around it (the HTML variant goes
through the extractor, as a crawled page would). Formulas ($…$) are left whole except for case and
whitespace, which the formula token ignores.
"""

from __future__ import annotations

import html
import random
import re

# formulas as corpus.decontaminate finds them (pandoc's `$` rule: `$15 … $20` is money, not a formula)
FORMULA_SPLIT_RE = re.compile(r"(\$\$.+?\$\$|(?<![\\$])\$(?=\S)[^$]{0,2000}?\S\$(?!\d)|\\\(.+?\\\)|\\\[.+?\\\])", re.S)
PUNCT_RE = re.compile(r"[,.;:!?](?=\s|$)|[\"()]")  # sentence punctuation, quotes, brackets; not 3.14 or don't
VARIANTS = ("verbatim", "whitespace", "case", "punctuation", "line_break", "html")


def _prose(text: str, fn) -> str:
    """Apply fn to the prose between formulas only."""
    parts = FORMULA_SPLIT_RE.split(text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


def _html(question: str, rng: random.Random) -> str:
    """The question as a page fragment: words in <b>/<em> now and then, formulas as MathJax scripts."""
    out = []
    for i, part in enumerate(FORMULA_SPLIT_RE.split(question)):
        if i % 2:
            tex = part.strip("$")
            if part.startswith(("\\(", "\\[")):
                tex = part[2:-2]
            out.append(f'<script type="math/tex">{tex}</script>')
            continue
        words = part.split(" ")
        prose = " ".join(f"<b>{html.escape(w)}</b>" if w and rng.random() < 0.15 else html.escape(w) for w in words)
        out.append(prose.replace("\n", "<br>"))
    return "<p>" + "".join(out) + "</p>"


def leak_variant(question: str, variant: str, rng: random.Random) -> str:
    """The question rewritten as `variant` (VARIANTS); "html" returns an HTML fragment, the others text."""
    if variant == "verbatim":
        return question
    if variant == "whitespace":
        return re.sub(r" ", lambda _: rng.choice(["  ", "\t", " \u00a0", " "]), question)
    if variant == "case":
        return question.upper()
    if variant == "punctuation":  # sentence marks dropped or swapped; brackets and quotes become spaces
        def swap(m: re.Match) -> str:
            return " " if m.group(0) in "\"()" else rng.choice(["", " -", ";"])

        return _prose(question, lambda s: PUNCT_RE.sub(swap, s))
    if variant == "line_break":
        return _prose(question, lambda s: re.sub(r" ", lambda _: "\n" if rng.random() < 0.3 else " ", s))
    if variant == "html":
        return _html(question, rng)
    raise ValueError(f"unknown leak variant {variant!r}")
