"""Math-aware extraction: every markup kind comes out as the LaTeX the page was generated from, on
generated pages, on pages built from real problems, and on the real pages of shared/data/web."""

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
    assert "$${x}_{1}^{2}+\\sqrt[3]{y}\\leq \\frac{\\pi }{2}$$" in text
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


def test_wikipedia_mathml_hidden_wrapper_and_fallback_image():
    """MediaWiki hides the MathML (display:none) and shows an <img alt>; both carry {\\displaystyle …}."""
    html = ('<html><body><div id="content"><p>The map <span class="mwe-math-element"><span class="mwe-math-mathml-inline '
            'mwe-math-mathml-a11y" style="display: none;"><math xmlns="http://www.w3.org/1998/Math/MathML" '
            'alttext="{\\displaystyle p_{j|i}}"><semantics><mrow><msub><mi>p</mi><mrow><mi>j</mi></mrow></msub></mrow>'
            '<annotation encoding="application/x-tex">{\\displaystyle p_{j|i}}</annotation></semantics></math></span>'
            '<img src="https://wikimedia.org/api/rest_v1/media/math/render/svg/abc" class="mwe-math-fallback-image-inline" '
            'aria-hidden="true" alt="{\\displaystyle p_{j|i}}"></span> is a probability. ' + "Words of the article. " * 20 +
            '</p><p><span class="mwe-math-element"><img class="mwe-math-fallback-image-display" alt="{\\displaystyle '
            'q_{ij}=1}" src="https://wikimedia.org/api/rest_v1/media/math/render/svg/def"></span></p></div></body></html>')
    text = html_to_text(html).text
    assert "$p_{j|i}$ is a probability" in text
    assert "$$q_{ij}=1$$" in text
    assert text.count("p_{j|i}") == 1  # the fallback image is not a second copy


def test_mathml_in_a_hidden_wrapper_is_kept():
    html = ('<html><body><article><p>' + "Some prose about sets. " * 20 + 'Let <span style="display:none">'
            '<math><semantics><mi>x</mi><annotation encoding="application/x-tex">x \\in A</annotation></semantics></math>'
            '</span> hold.</p></article></body></html>')
    assert "Let $x \\in A$ hold." in html_to_text(html).text


@pytest.mark.parametrize(("img", "want"), [
    ('<img src="https://latex.codecogs.com/png.latex?\\frac{a}{b}" alt="\\frac{a}{b}">', "$\\frac{a}{b}$"),
    ('<img src="/cgi-bin/mimetex.cgi?x^2" alt="x^2">', "$x^2$"),
    ('<img class="latex" src="https://s0.wp.com/latex.php?latex=n%21" alt="n!">', "$n!$"),
    ('<img class="tex" src="/m/1.png" alt="$\\sqrt{2}$">', "$\\sqrt{2}$"),
])
def test_tex_images_become_formulas(img, want):
    html = f'<html><body><article><p>{"Prose about numbers. " * 20}The value {img} is known.</p></article></body></html>'
    assert f"The value {want} is known." in html_to_text(html).text


def test_ordinary_images_stay_alt_text():
    html = f'<html><body><article><p>{"Prose about cats. " * 20}<img src="/cat.jpg" alt="a cat"> sleeps.</p></article></body></html>'
    text = html_to_text(html).text
    assert "$" not in text


def test_asciimath_only_on_pages_that_configure_it():
    body = f'<body><article><p>{"Prose about algebra. " * 20}Solve `x^(n+1) <= sqrt(2)/3` now.</p></article></body>'
    with_cfg = ('<html><head><script src="https://cdn.example.org/MathJax.js?config=AM_HTMLorMML"></script></head>'
                + body + '</html>')
    assert "Solve $x^{n+1}\\le\\frac{\\sqrt{2}}{3}$ now." in html_to_text(with_cfg).text
    assert "`x^(n+1) <= sqrt(2)/3`" in html_to_text("<html>" + body + "</html>").text


@pytest.mark.parametrize(("ascii_math", "latex"), [
    ("a/b", "\\frac{a}{b}"),
    ("(a+b)/(c-d)", "\\frac{a+b}{c-d}"),
    ("sum_(k=1)^n k^2", "\\sum_{k=1}^{n}k^{2}"),
    ("root(3)(x) != oo", "\\sqrt[3]{x}\\ne\\infty"),
    ("alpha xx beta", "\\alpha\\times\\beta"),
    ("x in RR", "x\\in\\mathbb{R}"),
    ("abs(x-1)", "\\left|x-1\\right|"),
])
def test_asciimath_to_latex(ascii_math, latex):
    from corpus.mathml import asciimath_to_latex

    assert asciimath_to_latex(ascii_math) == latex


def test_mathjax_mathml_input_and_mathjax3_output():
    mml = '<math display="block"><mfrac><mn>1</mn><mi>n</mi></mfrac></math>'
    html = ('<html><body><article><p>' + "Prose about limits. " * 20 + 'First <span class="MathJax_Preview">1/n</span>'
            '<span class="MathJax" id="MathJax-Element-1-Frame">rendered</span><script type="math/mml">' + mml +
            '</script> then <mjx-container class="MathJax" jax="CHTML"><mjx-math class="MJX-TEX">glyphs</mjx-math>'
            '<mjx-assistive-mml><math><msup><mi>e</mi><mi>x</mi></msup></math></mjx-assistive-mml></mjx-container> end.'
            '</p></article></body></html>')
    text = html_to_text(html).text
    assert "$$\\frac{1}{n}$$" in text and "${e}^{x}$ end." in text
    assert "rendered" not in text and "glyphs" not in text and "1/n" not in text


def test_distill_dt_math():
    html = (f'<html><body><article><p>{"Prose about momentum. " * 20}Step <dt-math>\\alpha</dt-math> and</p>'
            '<dt-math block>w^{k+1} = w^k - \\alpha z^{k+1}</dt-math></article></body></html>')
    text = html_to_text(html).text
    assert "Step $\\alpha$ and" in text and "$$w^{k+1} = w^k - \\alpha z^{k+1}$$" in text


@pytest.mark.parametrize("markup", ["dollar", "paren", "script", "katex", "mathml_wiki", "img_alt"])
def test_real_problem_pages_keep_every_formula(shared_data, markup):
    from corpus.real_sources import load_real_text
    from corpus.sample_real import real_math_page

    real = load_real_text(str(shared_data))
    rng = random.Random(markup)
    for item in rng.sample(real.en_math, 25):
        page = real_math_page(rng, "https://math.example.org/q/1", item, markup)
        text = squash(html_to_text(page.html).text)
        for tex in page.formulas:
            assert squash(f"${tex}$") in text, (markup, tex)


def test_real_wikipedia_page_keeps_its_formulas(web_dir):
    """The t-SNE article: every {\\displaystyle} annotation of the page is in the text, once."""
    import html as html_lib

    from corpus.real_sources import read_page_html

    page = read_page_html(web_dir / "trafilatura/tests/cache/en.wikipedia.org.tsne.html")
    annotations = re.findall(r'<annotation encoding="application/x-tex">\{\\displaystyle (.*?)\}</annotation>', page, re.S)
    text = squash(html_to_text(page).text)
    assert len(annotations) > 30
    kept = [a for a in annotations if squash(html_lib.unescape(a)) in text]
    assert len(kept) / len(annotations) > 0.95, set(annotations) - set(kept)
