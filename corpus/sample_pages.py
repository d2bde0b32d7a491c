"""Synthetic web pages for the sample crawl: math pages in every markup kind, non-math pages, Chinese pages.

Why synthetic: tests and the demo need a crawl whose truth is known (which page is math, which
formulas it holds) and which costs nothing to make at any size. A formula is built once as a small
expression tree and rendered both as LaTeX (the truth) and as the page's markup (MathJax, KaTeX,
MathML, ...), so extraction can be checked formula by formula.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field

from corpus.mathml import MATHML_OPERATORS

MARKUPS = ("dollar", "paren", "display_dollar", "script", "script_display", "katex", "mathml", "none")

# Expression trees: ("mi", "x") | ("mn", "3") | ("mo", "+") | ("row", [..]) | ("sup", a, b) | ("sub", a, b)
# | ("frac", a, b) | ("sqrt", a). The LaTeX rendering is the canonical form extraction must reproduce.

VARIABLES = "xyznkabt"
FUNCS = ("f", "g", "h", "p")


def to_latex(node: tuple) -> str:
    kind = node[0]
    if kind in ("mi", "mn"):
        return node[1]
    if kind == "mo":
        return MATHML_OPERATORS.get(node[1], node[1])
    if kind == "row":
        return "".join(to_latex(c) for c in node[1])
    if kind == "sup":
        return f"{{{to_latex(node[1])}}}^{{{to_latex(node[2])}}}"
    if kind == "sub":
        return f"{{{to_latex(node[1])}}}_{{{to_latex(node[2])}}}"
    if kind == "frac":
        return rf"\frac{{{to_latex(node[1])}}}{{{to_latex(node[2])}}}"
    if kind == "sqrt":
        return rf"\sqrt{{{to_latex(node[1])}}}"
    raise ValueError(f"unknown expression node {kind!r}")


def to_mathml(node: tuple) -> str:
    kind = node[0]
    if kind in ("mi", "mn", "mo"):
        return f"<{kind}>{html.escape(node[1])}</{kind}>"
    if kind == "row":
        return "<mrow>" + "".join(to_mathml(c) for c in node[1]) + "</mrow>"
    tag = {"sup": "msup", "sub": "msub", "frac": "mfrac", "sqrt": "msqrt"}[kind]
    return f"<{tag}>" + "".join(to_mathml(c) for c in node[1:]) + f"</{tag}>"


def random_formula(rng: random.Random, depth: int = 0) -> tuple:
    """A random expression tree: polynomials, fractions, roots, sums, inequalities."""
    v = ("mi", rng.choice(VARIABLES))
    n = ("mn", str(rng.randint(2, 99)))
    choice = rng.randrange(7 if depth < 2 else 3)
    if choice == 0:
        return ("row", [("sup", v, n), ("mo", "+"), ("mn", str(rng.randint(1, 50))), v])
    if choice == 1:
        return ("row", [("mi", rng.choice(FUNCS)), ("mo", "("), v, ("mo", ")"), ("mo", "="), ("sup", v, ("mn", "2")),
                        ("mo", rng.choice("+-")), n])
    if choice == 2:
        return ("row", [v, ("mo", rng.choice(["≤", "≥", "="])), n, ("mo", "×"), ("mi", rng.choice(VARIABLES))])
    if choice == 3:
        return ("frac", random_formula(rng, depth + 1), ("row", [v, ("mo", "+"), n]))
    if choice == 4:
        return ("sqrt", random_formula(rng, depth + 1))
    if choice == 5:
        return ("row", [("sub", ("mo", "∑"), ("row", [("mi", "k"), ("mo", "="), ("mn", "1")])), ("sub", ("mi", "a"), ("mi", "k")),
                        ("mo", "="), random_formula(rng, depth + 1)])
    return ("row", [("mo", "∫"), random_formula(rng, depth + 1), ("mi", "d"), v])


def render_math(node: tuple, markup: str) -> str:
    """HTML for one formula in the given markup kind (see MARKUPS)."""
    tex = to_latex(node)
    esc = html.escape(tex, quote=False)
    if markup == "dollar":
        return f"${esc}$"
    if markup == "paren":
        return rf"\({esc}\)"
    if markup == "display_dollar":
        return f"$${esc}$$"
    if markup == "script":
        return f'<script type="math/tex">{esc}</script>'
    if markup == "script_display":
        return f'<script type="math/tex; mode=display">{esc}</script>'
    if markup == "katex":
        return ('<span class="katex"><span class="katex-mathml"><math xmlns="http://www.w3.org/1998/Math/MathML">'
                f'<semantics>{to_mathml(node)}<annotation encoding="application/x-tex">{esc}</annotation></semantics>'
                f'</math></span><span class="katex-html" aria-hidden="true"><span class="mord">{esc[:3]}</span></span></span>')
    if markup == "mathml":
        return f'<math xmlns="http://www.w3.org/1998/Math/MathML">{to_mathml(node)}</math>'
    raise ValueError(f"unknown markup {markup!r}")


def is_display(markup: str) -> bool:
    return markup in ("display_dollar", "script_display")


MATH_EN = [
    "Let {f} be given. We want to show that the inequality holds for every integer n.",
    "Consider the function {f} and compute its derivative at the origin.",
    "By the fundamental theorem of calculus, the integral {f} can be evaluated directly.",
    "Suppose {f}. Then by induction the sequence is bounded and converges.",
    "Proof. Assume {f}; the lemma follows from the triangle inequality.",
    "The eigenvalues of the matrix satisfy {f}, hence the determinant is positive.",
    "Solve for x: {f}. Factor the quadratic and check both roots.",
    "The probability that the sum equals {f} is computed with the binomial theorem.",
    "Theorem. If {f} then the polynomial has a real root in the interval.",
    "Hint: substitute {f} and simplify the fraction before taking the limit.",
]
MATH_EN_PLAIN = [
    "A train travels 120 miles in 3 hours. What is its average speed in miles per hour?",
    "Sarah has 5 apples and buys 7 more. She gives away half. How many apples does she keep?",
    "Find the least common multiple of 12 and 18, then divide it by their greatest common divisor.",
    "The perimeter of a rectangle is 40 cm and its length is 12 cm. Find the area of the rectangle.",
    "How many prime numbers are there between 10 and 50? List them and add them up.",
    "A fair die is rolled twice. What is the probability that the product of the two numbers is even?",
]
MATH_ZH = [
    "已知 {f}，求函数的最小值，并说明理由。",
    "设 {f}，证明该数列单调递增且有上界。",
    "解方程 {f}，并检验所得的根。",
    "计算积分 {f} 的值，写出详细步骤。",
    "若 {f}，则三角形的面积是多少？",
]
TOPIC_EN = {
    "news": ["The city council approved the new budget on Tuesday after a long debate.",
             "Officials said the bridge will reopen next month once repairs are complete.",
             "The minister announced new measures to support small businesses this winter.",
             "Witnesses described heavy traffic and delays across the northern district."],
    "recipe": ["Preheat the oven and butter a baking dish generously.",
               "Whisk the eggs with sugar until pale, then fold in the flour.",
               "Simmer the tomato sauce with garlic and fresh basil for twenty minutes.",
               "Serve warm with a spoon of yogurt and chopped parsley."],
    "sport": ["The striker scored twice in the second half to secure the win.",
              "The coach praised the defence after a hard-fought draw away from home.",
              "Tickets for the final sold out within an hour of going on sale.",
              "The veteran goalkeeper announced his retirement after fifteen seasons."],
    "shop": ["Free shipping on all orders this weekend only.",
             "This jacket is waterproof, breathable and comes in five colours.",
             "Add to cart now and save on our best-selling running shoes.",
             "Customer reviews praise the comfort and durable stitching."],
    "forum": ["Has anyone tried the new firmware update on this router?",
              "I had the same issue with my car, the mechanic replaced the sensor.",
              "Thanks for the tip, it worked after I cleared the cache.",
              "Moving this thread to the hardware section, please read the rules."],
}
TOPIC_ZH = {
    "news": ["市政府周二宣布了新的交通规划方案。", "今年的粮食产量再创新高，农民收入稳步增长。",
             "专家表示，新政策将有助于稳定房地产市场。"],
    "recipe": ["将鸡蛋打散，加入少许盐搅拌均匀。", "锅中放油，烧热后放入葱姜蒜爆香。", "小火慢炖四十分钟，出锅前撒上香菜。"],
    "sport": ["主队在下半场连进两球，最终赢得比赛。", "这位老将宣布在本赛季结束后退役。", "决赛门票在一小时内售罄。"],
}
BOILERPLATE = ["Home", "About us", "Contact", "Privacy policy", "Terms of use", "Subscribe to our newsletter",
               "Sign in", "Register", "Cookie settings", "Follow us on social media", "Careers", "Advertise"]

# Benchmark-like problems that a few crawl pages quote verbatim (decontamination has something to find).
CONTAMINATION_PROBLEMS = [  # (item id, question, answer)
    ("q0", "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
     "How many clips did Natalia sell altogether in April and May?", "72"),
    ("q1", "Weng earns 12 dollars an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
     "How much did she earn?", "10"),
    ("q2", "Find the distance between the foci of the ellipse whose equation is given in the problem.", "4"),
    ("q3", "小明有三本书，小红的书是小明的四倍，两人一共有多少本书？", "15"),
    ("q4", "Compute the sum of all primes", "17"),  # 6 tokens: matched as an exact token sequence
]

@dataclass
class Page:
    """One generated page: its HTML, and the truth about it."""

    url: str
    kind: str
    is_math: bool
    lang: str
    markup: str
    html: str
    text: str  # the clean text a perfect extractor would produce (formulas as $..$ / $$..$$)
    formulas: list[str] = field(default_factory=list)


def wrap_page(title: str, body_html: str, rng: random.Random, boilerplate: int, lang: str) -> str:
    """A full page around an article: head scripts, nav menu, `boilerplate` sidebar links, footer."""
    nav = "".join(f'<li><a href="/{w.lower().replace(" ", "-")}">{w}</a></li>' for w in rng.sample(BOILERPLATE, 6))
    foot = " | ".join(rng.sample(BOILERPLATE, 4))
    extra = "".join(f'<div class="sidebar"><a href="/p/{rng.randint(1, 9999)}">{rng.choice(BOILERPLATE)} '
                    f'{rng.randint(1, 99)}</a></div>' for _ in range(boilerplate))
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<script>window.dataLayer=[];function gtag(){dataLayer.push(arguments)}</script>'
            f'<style>body{{font-family:sans-serif}}</style></head><body><header><nav><ul>{nav}</ul></nav></header>'
            f'<main><article><h1>{html.escape(title)}</h1>{body_html}</article></main>{extra}'
            f'<footer><p>{foot}</p><p>© 2024 All rights reserved.</p></footer></body></html>')


def math_page(rng: random.Random, url: str, lang: str, markup: str, contaminate: bool = False) -> Page:
    """A math Q&A / lecture page whose formulas use one markup kind ("none": word problems, no markup)."""
    paras_html, paras_text, formulas = [], [], []
    n_par = rng.randint(3, 8)
    for _ in range(n_par):
        if markup == "none":
            sentence = " ".join(rng.sample(MATH_EN_PLAIN, 2))
            paras_html.append(f"<p>{html.escape(sentence)}</p>")
            paras_text.append(sentence)
            continue
        template = rng.choice(MATH_ZH if lang == "zh" else MATH_EN)
        node = random_formula(rng)
        tex = to_latex(node)
        formulas.append(tex)
        clean = f"$${tex}$$" if is_display(markup) else f"${tex}$"
        before, after = template.split("{f}")
        paras_html.append(f"<p>{html.escape(before)}{render_math(node, markup)}{html.escape(after)}</p>")
        paras_text.append(f"{before}{clean}{after}")
    if contaminate:
        _, problem, _ = rng.choice(CONTAMINATION_PROBLEMS)
        paras_html.append(f"<p>{html.escape(problem)}</p>")
        paras_text.append(problem)
    title = ("数学问题" if lang == "zh" else "Question about ") + str(rng.randint(1, 10**6))
    page_html = wrap_page(title, "".join(paras_html), rng, rng.randint(0, 2), lang)
    return Page(url, "math", True, lang, markup, page_html, "\n".join([title, *paras_text]), formulas)


def topic_page(rng: random.Random, url: str, lang: str, topic: str, boilerplate_heavy: bool = False) -> Page:
    """A non-math page (news, recipe, sport, shop, forum); boilerplate-heavy pages are mostly menus."""
    pool = (TOPIC_ZH.get(topic) or TOPIC_ZH["news"]) if lang == "zh" else TOPIC_EN[topic]
    n_par = 1 if boilerplate_heavy else rng.randint(3, 8)
    sentences = [" ".join(rng.choices(pool, k=rng.randint(2, 4))) for _ in range(n_par)]
    title = f"{topic.title()} {rng.randint(1, 10**6)}"
    body = "".join(f"<p>{html.escape(s)}</p>" for s in sentences)
    page_html = wrap_page(title, body, rng, 40 if boilerplate_heavy else rng.randint(0, 3), lang)
    kind = "boilerplate" if boilerplate_heavy else topic
    return Page(url, kind, False, lang, "none", page_html, "\n".join([title, *sentences]))
