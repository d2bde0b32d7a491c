"""Build benchmarks/data/formula_reference.json: the formulas each real math page of shared/data/web shows, as LaTeX.

    .venv/bin/python benchmarks/formula_reference.py [--web ../shared/data/web]

Independent of corpus.extract on purpose (regular expressions over the raw HTML, no DOM, no
main-content heuristics), so the reference does not inherit the extractor's mistakes. A formula is:
  - the text of <script type="math/tex…">, of <dt-math> (Distill), of <annotation encoding="application/x-tex">
    (KaTeX, MediaWiki; `{\\displaystyle …}` unwrapped);
  - `$$…$$`, `\\[…\\]`, `\\(…\\)`, `$…$` in the page's visible text (scripts, styles, comments and tags
    removed, entities decoded), as MathJax would typeset them on pages that load MathJax/KaTeX.
Each page keeps its distinct formulas of 3+ characters (whitespace ignored), in page order.
Checked by hand on a sample of each kind (Lil'Log, Bounded Rationality, colah, jakevdp, Distill,
the Chinese notes, Wikipedia t-SNE, KaTeX centraliser): the lists match what the pages render.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "data" / "formula_reference.json"

SCRIPT_TEX_RE = re.compile(r"<script[^>]*type=\"math/tex[^\"]*\"[^>]*>(.*?)</script>", re.S | re.I)
DT_MATH_RE = re.compile(r"<dt-math[^>]*>(.*?)</dt-math>", re.S)
ANNOTATION_RE = re.compile(r"<annotation[^>]*encoding=\"application/x-tex\"[^>]*>(.*?)</annotation>", re.S)
INVISIBLE_RE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
TAG_RE = re.compile(r"<[^>]+>")
TEXT_MATH_RE = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$([^$\n]+?)\$", re.S)
DISPLAYSTYLE_RE = re.compile(r"^\{\\displaystyle\s*(.*)\}$", re.S)
LOADS_MATH = ("mathjax", "katex")


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def page_formulas(page: str) -> list[str]:
    """The distinct formulas a page shows (rules in the module docstring), in page order."""
    found: list[str] = []
    for rx in (SCRIPT_TEX_RE, DT_MATH_RE, ANNOTATION_RE):
        found += [html.unescape(m.group(1)) for m in rx.finditer(page)]
    if any(marker in page.lower() for marker in LOADS_MATH):
        visible = html.unescape(TAG_RE.sub(" ", INVISIBLE_RE.sub(" ", page)))
        found += [next(g for g in m.groups() if g is not None) for m in TEXT_MATH_RE.finditer(visible)]
    out, seen = [], set()
    for tex in found:
        tex = tex.strip()
        m = DISPLAYSTYLE_RE.match(tex)
        tex = m.group(1).strip() if m else tex
        key = squash(tex)
        if len(key) >= 3 and key not in seen:
            seen.add(key)
            out.append(tex)
    return out


def main() -> None:
    import sys

    sys.path.insert(0, str(REPO))
    from corpus.real_sources import read_page_html, web_manifest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--web", type=Path, default=REPO.parent / "shared" / "data" / "web")
    args = ap.parse_args()
    pages = {}
    for p in web_manifest(args.web):
        if p.label == "math":
            pages[p.path.relative_to(args.web).as_posix()] = page_formulas(read_page_html(p.path))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": "shared/data/web (SOURCES.md math pages)", "rule": "benchmarks/formula_reference.py",
                               "pages": pages}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(pages)} pages, {sum(len(v) for v in pages.values())} formulas")
    for name, formulas in pages.items():
        print(f"  {len(formulas):4d}  {name}")


if __name__ == "__main__":
    main()
