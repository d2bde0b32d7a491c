"""The recall sites of the sample crawl: TeX written as plain ASCII, recognisable paths, truth per page."""

import random
from urllib.parse import urlsplit

import pytest

from corpus.sample_recall import RECALL_SITES, recall_page, tex_to_ascii


@pytest.mark.parametrize("tex, ascii_", [
    (r"\frac{x^2+1}{\sqrt{3}}", "(x^2+1)/(sqrt(3))"),
    (r"x^{10} \le 3\cdot y_{n+1}", "x^(10) <= 3* y_(n+1)"),
    (r"\dfrac{1}{2}\text{ cm}", "(1)/(2) cm"),
    (r"\sqrt[3]{27} = 3", "(27)^(1/3) = 3"),
    (r"\left(\frac{a}{b}\right)^2", "((a)/(b))^2"),
    (r"\alpha + \beta \neq \pi", "alpha + beta != pi"),
    (r"\frac{\frac{1}{2}}{3}", "((1)/(2))/(3)"),
    (r"45^\circ", "45^ degrees"),
])
def test_tex_to_ascii(tex, ascii_):
    assert tex_to_ascii(tex) == ascii_


def test_recall_pages_live_on_their_sites_with_truth():
    rng = random.Random(0)
    pages = [recall_page(rng) for _ in range(400)]
    hosts = {site[0]: site for site in RECALL_SITES}
    for page in pages:
        parts = urlsplit(page.url)
        host, math_path, other_path = hosts[parts.hostname][:3]
        prefix = (math_path if page.is_math else other_path).split("{")[0]
        assert parts.path.startswith(prefix), page.url
        if page.kind == "math_ascii":
            assert "$" not in page.text and "\\" not in page.text and page.markup == "ascii"
    kinds = {p.kind for p in pages}
    assert kinds == {"math_ascii", "math", "recall_other"}
    numberchat = [p for p in pages if "numberchat" in p.url and p.is_math]
    assert numberchat and all(p.kind == "math_ascii" for p in numberchat)  # no TeX there at all
