"""Sample-crawl pages built from real text (corpus.real_sources), with the same truth as the generated ones.

A math page is one real problem with its solution, every formula rendered in the page's markup
(REAL_MARKUPS: the ways real sites ship TeX) and recorded as LaTeX in the truth. A non-math page is
a WikiText-2 section, a run of paragraphs of a real non-math page re-wrapped in a site template, or
(rarely) a real non-math page verbatim. Truth `text` is what a perfect extractor would return:
title, then paragraphs, formulas as `$…$` / `$$…$$` (image alt-text formulas as `$…$`: an image
does not say whether it was a display).
"""

from __future__ import annotations

import html
import random

from corpus.real_sources import MathItem
from corpus.sample_pages import Page, wrap_page

REAL_MARKUPS = ("dollar", "paren", "script", "katex", "mathml_wiki", "img_alt")
IMG_TEX_SOURCES = ("https://latex.codecogs.com/png.latex?", "https://www.example-edu.org/cgi-bin/mimetex.cgi?")


def render_tex(tex: str, display: bool, markup: str, rng: random.Random) -> str:
    """HTML for one TeX formula as a real site would ship it in `markup`."""
    esc = html.escape(tex, quote=False)
    if markup == "dollar":
        return f"$${esc}$$" if display else f"${esc}$"
    if markup == "paren":
        return rf"\[{esc}\]" if display else rf"\({esc}\)"
    if markup == "script":
        mode = "; mode=display" if display else ""
        raw = tex.replace("</", "<\\/")  # script content is raw text: no entities, only `</` must not appear
        return f'<script type="math/tex{mode}">{raw}</script>'
    if markup == "katex":
        inner = ('<span class="katex"><span class="katex-mathml"><math xmlns="http://www.w3.org/1998/Math/MathML">'
                 f'<semantics><mrow><mi>{esc[:1]}</mi></mrow><annotation encoding="application/x-tex">{esc}</annotation>'
                 f'</semantics></math></span><span class="katex-html" aria-hidden="true"><span class="base">'
                 f'<span class="mord">{esc[:4]}</span></span></span></span>')
        return f'<span class="katex-display">{inner}</span>' if display else inner
    if markup == "mathml_wiki":  # MediaWiki: hidden MathML with a {\displaystyle} annotation, plus an SVG fallback
        kind = "display" if display else "inline"
        ann = html.escape("{\\displaystyle " + tex + "}", quote=True)
        block = ' display="block"' if display else ""
        return (f'<span class="mwe-math-element"><span class="mwe-math-mathml-{kind} mwe-math-mathml-a11y" '
                f'style="display: none;"><math xmlns="http://www.w3.org/1998/Math/MathML"{block} alttext="{ann}">'
                f'<semantics><mrow class="MJX-TeXAtom-ORD"><mstyle displaystyle="true" scriptlevel="0">'
                f'<mi>{esc[:1]}</mi></mstyle></mrow><annotation encoding="application/x-tex">{ann}</annotation>'
                f'</semantics></math></span><img src="https://wikimedia.org/api/rest_v1/media/math/render/svg/'
                f'{rng.getrandbits(64):016x}" class="mwe-math-fallback-image-{kind}" aria-hidden="true" '
                f'alt="{ann}"></span>')
    if markup == "img_alt":
        src = rng.choice(IMG_TEX_SOURCES) + html.escape(tex.replace(" ", "%20"), quote=True)
        img = f'<img src="{src}" alt="{html.escape(tex, quote=True)}" title="{html.escape(tex, quote=True)}">'
        return f'<div class="equation">{img}</div>' if display else img
    raise ValueError(f"unknown markup {markup!r}")


def _clean(seg_text: str, display: bool, markup: str) -> str:
    return f"$${seg_text}$$" if display and markup != "img_alt" else f"${seg_text}$"


def real_math_page(rng: random.Random, url: str, item: MathItem, markup: str, extra: str = "") -> Page:
    """One real problem + solution as a Q&A page; `extra` (e.g. a quoted benchmark problem) is appended."""
    paras_html, paras_text, formulas = [[]], [[]], []
    for seg in item.segments:
        if seg.formula:
            formulas.append(seg.text)
            paras_html[-1].append(render_tex(seg.text, seg.display, markup, rng))
            paras_text[-1].append(_clean(seg.text, seg.display, markup))
            continue
        for k, piece in enumerate(seg.text.split("\n")):
            if k:
                paras_html.append([])
                paras_text.append([])
            paras_html[-1].append(html.escape(piece))
            paras_text[-1].append(piece)
    if extra:
        paras_html.append([html.escape(extra)])
        paras_text.append([extra])
    keep = [i for i, p in enumerate(paras_text) if "".join(p).strip()]
    body = "".join(f"<p>{''.join(paras_html[i])}</p>" for i in keep)
    title = f"{item.title} #{rng.randint(1, 10**6)}"
    page_html = wrap_page(title, body, rng, rng.randint(0, 3), item.lang)
    text = "\n".join([title, *("".join(paras_text[i]).strip() for i in keep)])
    return Page(url, "math", True, item.lang, markup if formulas else "none", page_html, text, formulas)


def prose_page(rng: random.Random, url: str, kind: str, lang: str, title: str, paragraphs: list[str],
               boilerplate_heavy: bool = False) -> Page:
    """Non-math prose (a WikiText section, paragraphs of a real page) in a site template."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page_html = wrap_page(title, body, rng, 40 if boilerplate_heavy else rng.randint(0, 3), lang)
    return Page(url, "boilerplate" if boilerplate_heavy else kind, False, lang, "none", page_html,
                "\n".join([title, *paragraphs]))
