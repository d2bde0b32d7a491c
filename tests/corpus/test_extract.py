"""Math-aware extraction: every markup kind comes out as the LaTeX the page was generated from."""

from __future__ import annotations

import random
import re

import pytest

from corpus.extract import html_to_text, normalize_delimiters
from corpus.sample_pages import MARKUPS, math_page, to_latex


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.mark.parametrize("markup", [m for m in MARKUPS if m != "none"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_formula_survives(markup, lang):
    rng = random.Random(f"{markup}{lang}")
    for _ in range(20):
        page = math_page(rng, "https://math.example.org/q/1", lang, markup)
        text = squash(html_to_text(page.html).text)
        delim = "$$" if markup in ("display_dollar", "script_display") else "$"
        for tex in page.formulas:
            assert squash(f"{delim}{tex}{delim}") in text, (markup, tex, text[:300])


def test_mathml_structures_convert_to_latex():
    html = ('<html><body><p>See <math display="block"><mrow><msubsup><mi>x</mi><mn>1</mn><mn>2</mn></msubsup>'
            '<mo>+</mo><mroot><mi>y</mi><mn>3</mn></mroot><mo>≤</mo><mfrac><mi>π</mi><mn>2</mn></mfrac></mrow></math>'
            ' and <math><msqrt><mn>2</mn></msqrt></math> in the text.</p></body></html>')
    text = html_to_text(html).text
    assert "$${x}_{1}^{2}+\\sqrt[3]{y}\\leq \\frac{π}{2}$$" in text
    assert "$\\sqrt{2}$" in text


def test_katex_display_and_rendered_copy_removed():
    node = ("row", [("sup", ("mi", "x"), ("mn", "2"))])
    tex = to_latex(node)
    html = ('<html><body><p>Inline <span class="katex-display"><span class="katex"><span class="katex-mathml"><math>'
            f'<semantics><mrow></mrow><annotation encoding="application/x-tex">{tex}</annotation></semantics></math>'
            '</span><span class="katex-html" aria-hidden="true">RENDERED</span></span></span> done.</p></body></html>')
    text = html_to_text(html).text
    assert f"$${tex}$$" in text and "RENDERED" not in text


def test_delimiters_normalised():
    assert normalize_delimiters(r"a \(x+1\) b \[ y^2 \] c $z$") == "a $x+1$ b $$y^2$$ c $z$"


def test_boilerplate_ratio_separates_menus_from_articles():
    from corpus.sample_pages import topic_page

    rng = random.Random(0)
    heavy = html_to_text(topic_page(rng, "https://n.example.com/a", "en", "news", boilerplate_heavy=True).html)
    normal = html_to_text(topic_page(rng, "https://n.example.com/b", "en", "news").html)
    assert heavy.boilerplate_ratio > 0.75 > normal.boilerplate_ratio
