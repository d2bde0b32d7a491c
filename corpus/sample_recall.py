"""Sample-crawl pages that make the recall rounds matter: math where the first classifier does not look.

The seed (and most crawl math) writes formulas as TeX, which extraction turns into `$…$`. Q&A forums,
wikis and boards of the real web often write math as plain ASCII instead: `x^2 + 3x - 4 = 0`,
`sqrt(2)/2`, `(a+b)/(c-d)`. A classifier trained on the TeX seed scores most such pages low. They
live on three sites with recognisable paths (RECALL_SITES):

  www.homeworkhelp.net   /questions/<n>/<slug>: ASCII math, a quarter TeX (so round 1 finds the domain);
                         /members/<n>/<slug>: profiles (not math)
  wiki.mathnotes.org     /wiki/<Slug>: ASCII math, a third TeX; /help/<Slug> (not math)
  www.numberchat.com     /threads/<n>/<slug>: ASCII math only (no TeX: found only once a round has
                         learnt the register); /lounge/<n> (not math)

Round 1 selects the TeX quarter, statistics flag the first two domains as math, a person annotates
/questions/ and /wiki/ (not /members/, not /help/), those pages join the seed, and the next round
recalls the ASCII register, on numberchat.com too, where nobody annotated anything. Truth kind
`math_ascii` marks the register. Problems and prose come from the real text the crawl uses when it
has some (corpus.real_sources), else from the generated templates of corpus.sample_pages.
"""

from __future__ import annotations

import html
import random
import re

from corpus.sample_pages import MATH_EN, TOPIC_EN, Page, math_page, random_formula, to_latex, wrap_page
from corpus.sample_real import REAL_MARKUPS, real_math_page

# (host, math path, non-math path, share of TeX math among its math pages, share of pages that are math)
RECALL_SITES = (
    ("www.homeworkhelp.net", "/questions/{i}/{s}", "/members/{i}/{s}", 0.25, 0.75, 0.45),
    ("wiki.mathnotes.org", "/wiki/{S}", "/help/{S}", 0.35, 0.75, 0.35),
    ("www.numberchat.com", "/threads/{i}/{s}", "/lounge/{i}", 0.0, 0.75, 0.20),
)  # last column: the site's share of the recall pages
SLUG_WORDS = ["solve", "help", "question", "value", "find", "total", "number", "area", "sum", "prove", "limit"]

_BRACED = r"\{((?:[^{}]|\{[^{}]*\})*)\}"  # one brace group, one nested level deep
_FRAC = re.compile(r"\\[dt]?frac\s*" + _BRACED + r"\s*" + _BRACED)
_SQRT = re.compile(r"\\sqrt\s*(?:\[([^\]]*)\])?\s*" + _BRACED)
_SUPSUB = re.compile(r"([\^_])\s*" + _BRACED)
_TEXT = re.compile(r"\\(?:text|mathrm|mathbf|mathit|operatorname|textbf)\s*" + _BRACED)
_SYMBOLS = {r"\cdot": "*", r"\times": "*", r"\div": "/", r"\leq": "<=", r"\le": "<=", r"\geq": ">=", r"\ge": ">=",
            r"\neq": "!=", r"\ne": "!=", r"\pm": "+/-", r"\infty": "infinity", r"\left": "", r"\right": "",
            r"\circ": " degrees", r"\%": "%", r"\$": "$", r"\,": " ", r"\;": " ", r"\!": "", r"\quad": " "}
_SYMBOL_RE = re.compile("|".join(re.escape(k) for k in sorted(_SYMBOLS, key=len, reverse=True)) + r"(?![a-zA-Z])")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")


def tex_to_ascii(tex: str) -> str:
    r"""TeX as a forum writes it in plain text: `\frac{a}{b}` -> `(a)/(b)`, `\sqrt{x}` -> `sqrt(x)`,
    `x^{10}` -> `x^(10)`, `\le` -> `<=`, `\cdot` -> `*`, `\alpha` -> `alpha`, `\text{m}` -> `m`; braces go."""
    out = tex
    for _ in range(4):  # innermost groups first; four levels cover the nesting of real problems
        prev = out
        out = _TEXT.sub(r"\1", out)
        out = _FRAC.sub(r"(\1)/(\2)", out)
        out = _SQRT.sub(lambda m: f"sqrt({m.group(2)})" if not m.group(1) else f"({m.group(2)})^(1/{m.group(1)})", out)
        out = _SUPSUB.sub(lambda m: m.group(1) + (m.group(2) if len(m.group(2)) == 1 else f"({m.group(2)})"), out)
        if out == prev:
            break
    out = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group(0)], out)
    out = _COMMAND.sub(r"\1", out).replace("{", "").replace("}", "")
    return " ".join(out.split())


def _slug(rng: random.Random) -> str:
    return "-".join(rng.sample(SLUG_WORDS, 3))


def _url(rng: random.Random, host: str, path: str) -> str:
    slug = _slug(rng)
    return "https://" + host + path.format(i=rng.randint(1, 10**6), s=slug, S=slug.replace("-", "_").title())


def ascii_paragraphs(rng: random.Random, real) -> list[str]:
    """A problem and its solution with every formula in ASCII: a real MATH item, or generated sentences."""
    if real is not None:
        items = [i for i in real.en_math if any(s.formula for s in i.segments)]
        item = rng.choice(items)
        text = "".join(tex_to_ascii(s.text) if s.formula else s.text for s in item.segments)
        return [p.strip() for p in text.split("\n") if p.strip()]
    paras = []
    for _ in range(rng.randint(3, 7)):
        before, after = rng.choice(MATH_EN).split("{f}")
        paras.append(before + tex_to_ascii(to_latex(random_formula(rng))) + after)
    return paras


def prose_paragraphs(rng: random.Random, real) -> list[str]:
    if real is not None:
        _, paras = rng.choice(real.wiki)
        return paras[:6]
    return [" ".join(rng.choices(TOPIC_EN["forum"], k=3)) for _ in range(rng.randint(3, 6))]


def _page(rng: random.Random, url: str, kind: str, is_math: bool, title: str, paras: list[str]) -> Page:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    return Page(url, kind, is_math, "en", "ascii" if is_math else "none",
                wrap_page(title, body, rng, rng.randint(0, 3), "en"), "\n".join([title, *paras]))


def recall_page(rng: random.Random, real=None) -> Page:
    """One page of the recall sites; `real` is corpus.real_sources.RealText, or None for generated text."""
    host, math_path, other_path, tex_share, math_share, _ = rng.choices(RECALL_SITES, [s[-1] for s in RECALL_SITES])[0]
    if rng.random() >= math_share:
        return _page(rng, _url(rng, host, other_path), "recall_other", False, f"Member {rng.randint(1, 10**5)}",
                     prose_paragraphs(rng, real))
    url = _url(rng, host, math_path)
    if rng.random() < tex_share:
        if real is not None:
            return real_math_page(rng, url, rng.choice(real.en_math), rng.choice(REAL_MARKUPS))
        return math_page(rng, url, "en", rng.choice(["dollar", "script", "katex"]))
    return _page(rng, url, "math_ascii", True, f"Question {rng.randint(1, 10**6)}", ascii_paragraphs(rng, real))
