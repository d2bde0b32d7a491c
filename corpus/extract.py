"""Math-aware HTML -> text on Resiliparse: formulas survive as LaTeX (`$…$` inline, `$$…$$` display).

Why our own: trafilatura 1.11 (datatrove's extractor) drops `<script type="math/tex">`, KaTeX and
MathML (trafilatura#792). Resiliparse parses and extracts in C (measured in
benchmarks/bench_corpus.py); we only rewrite the math nodes of its DOM into text nodes first:

  <script type="math/tex">T</script>             -> $T$   (`; mode=display` -> $$T$$)
  <span class="katex">… <annotation encoding="application/x-tex">T</annotation> …</span> -> $T$
      (inside `.katex-display` -> $$T$$; the rendered `.katex-html` copy goes)
  <math>…</math> (MathML)                         -> $latex(…)$ (display="block" -> $$…$$), via the
      annotation when present, else converted element by element (mathml_to_latex)
  \\(T\\) and \\[T\\] in text                        -> $T$ and $$T$$;  $T$ and $$T$$ stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

# MathML operator characters -> LaTeX commands (a trailing space keeps `\times b` from reading `\timesb`).
MATHML_OPERATORS = {"×": r"\times ", "≤": r"\leq ", "≥": r"\geq ", "∑": r"\sum ", "∫": r"\int ", "π": r"\pi ",
                    "·": r"\cdot ", "−": "-", "∞": r"\infty ", "≠": r"\neq ", "±": r"\pm ", "→": r"\to "}
PAREN_RE = re.compile(r"\\\((.+?)\\\)", re.S)
BRACKET_RE = re.compile(r"\\\[(.+?)\\\]", re.S)
TEX_ANNOTATION = 'annotation[encoding="application/x-tex"]'
RENDERED_MATH = ".MathJax_Preview, .MathJax, .MathJax_Display, .MathJax_SVG, .katex-html"


def mathml_to_latex(node) -> str:
    """LaTeX for a MathML element: msup -> {a}^{b}, msub -> {a}_{b}, msubsup -> {a}_{b}^{c},
    mfrac -> \\frac{a}{b}, msqrt -> \\sqrt{…}, mroot -> \\sqrt[b]{a}, token elements -> their text
    (operators through MATHML_OPERATORS), anything else -> its children concatenated."""
    tag = node.tag
    if tag == "annotation" or tag == "annotation-xml":
        return ""
    kids = [c for c in node.child_nodes if c.type == 1]  # element children only
    if tag in ("mi", "mn", "mtext", "ms"):
        return node.text.strip()
    if tag == "mo":
        op = node.text.strip()
        return MATHML_OPERATORS.get(op, op)
    parts = [mathml_to_latex(k) for k in kids]
    if tag == "msup" and len(parts) == 2:
        return f"{{{parts[0]}}}^{{{parts[1]}}}"
    if tag == "msub" and len(parts) == 2:
        return f"{{{parts[0]}}}_{{{parts[1]}}}"
    if tag == "msubsup" and len(parts) == 3:
        return f"{{{parts[0]}}}_{{{parts[1]}}}^{{{parts[2]}}}"
    if tag == "mfrac" and len(parts) == 2:
        return rf"\frac{{{parts[0]}}}{{{parts[1]}}}"
    if tag == "msqrt":
        return rf"\sqrt{{{''.join(parts)}}}"
    if tag == "mroot" and len(parts) == 2:
        return rf"\sqrt[{parts[1]}]{{{parts[0]}}}"
    return "".join(parts)


def _delimit(tex: str, display: bool) -> str:
    tex = tex.strip()
    return f" $${tex}$$ " if display else f"${tex}$"


def rewrite_math(tree) -> int:
    """Replace every math element of a Resiliparse tree by a LaTeX text node; returns how many."""
    body = tree.body
    if body is None:
        return 0
    n = 0
    for el in body.query_selector_all(RENDERED_MATH):
        if el.parent is not None and not el.query_selector(TEX_ANNOTATION):
            el.decompose()
    for el in body.query_selector_all('script[type^="math/tex"]'):
        el.replace_with(tree.create_text_node(_delimit(el.text, "mode=display" in el.getattr("type", ""))))
        n += 1
    for el in body.query_selector_all(".katex"):
        if el.parent is None:
            continue
        ann = el.query_selector(TEX_ANNOTATION)
        display = "katex-display" in (el.parent.getattr("class") or "")
        tex = ann.text if ann is not None else el.text
        el.replace_with(tree.create_text_node(_delimit(tex, display)))
        n += 1
    for el in body.query_selector_all("math"):
        if el.parent is None:
            continue
        ann = el.query_selector(TEX_ANNOTATION)
        tex = ann.text if ann is not None else mathml_to_latex(el)
        el.replace_with(tree.create_text_node(_delimit(tex, el.getattr("display", "") == "block")))
        n += 1
    return n


def normalize_delimiters(text: str) -> str:
    """\\(T\\) -> $T$ and \\[T\\] -> $$T$$, so every formula in the corpus uses dollar delimiters."""
    if "\\" not in text:
        return text
    return BRACKET_RE.sub(lambda m: f"$${m.group(1).strip()}$$", PAREN_RE.sub(lambda m: f"${m.group(1).strip()}$", text))


@dataclass
class Extracted:
    text: str
    n_math_elements: int
    boilerplate_ratio: float  # 1 - main-content chars / all visible chars


def html_to_text(html: str) -> Extracted:
    """Main-content text of a page with its formulas as LaTeX."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    n = rewrite_math(tree)
    everything = extract_plain_text(tree, preserve_formatting=False, main_content=False)
    main = extract_plain_text(tree, preserve_formatting=True, main_content=True, list_bullets=False)
    main = normalize_delimiters(main.strip())
    ratio = 1.0 - min(1.0, len(main) / len(everything)) if everything else 1.0
    return Extracted(main, n, ratio)


class MathExtractor(PipelineStep):
    """HTML documents -> text (formulas kept); WET/plain-text documents only get their delimiters normalised.

    Adds metadata `boilerplate_ratio` and `math_elements`; a page that fails to parse is dropped and
    counted as `dropped_extract_error`, one that yields no text as `dropped_empty_text`.
    """

    name = "∑ math-aware extraction"
    type = "🛢 - EXTRAC"

    def run(self, data, rank: int = 0, world_size: int = 1):
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                if doc.metadata.get("content_format", "html") == "text":
                    doc.text = normalize_delimiters(doc.text)
                    doc.metadata["boilerplate_ratio"] = 0.0
                    doc.metadata["math_elements"] = 0
                else:
                    try:
                        res = html_to_text(doc.text)
                    except Exception as exc:  # noqa: BLE001 - a parser failure on one page must not end the task
                        self.stat_update("dropped_extract_error")
                        logger.warning(f"{doc.id}: extraction failed ({type(exc).__name__}: {exc}); page dropped")
                        continue
                    doc.text = res.text
                    doc.metadata["boilerplate_ratio"] = round(res.boilerplate_ratio, 4)
                    doc.metadata["math_elements"] = res.n_math_elements
            if not doc.text:
                self.stat_update("dropped_empty_text")
                continue
            self.stat_update("forwarded")
            yield doc
