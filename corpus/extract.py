"""Math-aware HTML -> text on Resiliparse: formulas survive as LaTeX (`$…$` inline, `$$…$$` display).

Why our own: trafilatura (datatrove's extractor) drops `<script type="math/tex">`, KaTeX and MathML
(trafilatura#792), and plain Resiliparse drops hidden MathML and images. The page is parsed once;
only the math nodes are rewritten into text nodes, and only on pages that have one (a single selector
pass tells; most pages have none):

  <script type="math/tex">T</script>            -> $T$   (`; mode=display` -> $$T$$)
  <script type="math/mml">MathML</script>        -> $latex(MathML)$   (MathJax 2 output, MathML input)
  <script type="math/asciimath">A</script>       -> $latex(A)$        (MathJax 2 output, AsciiMath input)
  <span class="katex">… <annotation encoding="application/x-tex">T</annotation> …</span> -> $T$
      (inside `.katex-display` -> $$T$$); rendered copies (.katex-html, .MathJax*, mjx-math) are skipped
  <span class="mwe-math-element"> (Wikipedia: MathML hidden by `display:none` + fallback <img alt>)
      -> $T$ from the annotation or alt text, `{\\displaystyle T}` unwrapped, the whole element replaced
  <math> (MathML, MathJax 3's mjx-container too)  -> its TeX annotation, else `alttext`, else converted
      (corpus.mathml); when it sits in a hidden wrapper, the wrapper is replaced (main-content
      extraction drops hidden elements with everything in them)
  <dt-math>T</dt-math> (Distill)                   -> $T$  (`block` -> $$T$$)
  <img alt="T"> from a TeX renderer (codecogs, mimetex, WordPress latex.php, …) or with class
      tex / latex / math                          -> $T$
  `A` in text, on pages that configure MathJax's AsciiMath input -> $latex(A)$
  \\(T\\) and \\[T\\] in text                        -> $T$ and $$T$$;  $T$ and $$T$$ stay as they are.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from corpus.mathml import asciimath_to_latex, mathml_to_latex

PAREN_RE = re.compile(r"\\\((.+?)\\\)", re.S)
BRACKET_RE = re.compile(r"\\\[(.+?)\\\]", re.S)
TEX_ANNOTATION = 'annotation[encoding="application/x-tex"]'
# Rendered copies of formulas whose TeX is kept elsewhere on the page: skipped by the text extraction
# (decomposing them would cost more than the whole parse on MathJax-SVG pages).
RENDERED_MATH = [".MathJax_Preview", ".MathJax:not(mjx-container)", ".MathJax_Display", ".MathJax_SVG", ".MathJax_CHTML",
                 ".katex-html", "mjx-math"]
DISPLAYSTYLE_RE = re.compile(r"^\{\\displaystyle\s*(.*)\}$", re.S)
TEX_IMAGES = ", ".join([*(f'img[alt][src*="{s}"]' for s in ("codecogs", "mimetex", "mathtex", "latex.php",
                                                               "/math/render/", "cht=tx")),
                        "img[alt].tex", "img[alt].latex", "img[alt].math", "img[alt].wp-latex"])
MATH_NODES = f'script[type^="math/"], .katex, .mwe-math-element, math, dt-math, {TEX_IMAGES}'
ASCIIMATH_CONFIG_RE = re.compile(r"asciimath|AM_HTMLorMML|TeX-MML-AM", re.I)
BACKTICK_RE = re.compile(r"`([^`\n]{1,300})`")
HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none", re.I)


def _delimit(tex: str, display: bool) -> str:
    tex = tex.strip()
    m = DISPLAYSTYLE_RE.match(tex)
    if m:
        tex = m.group(1).strip()
    return f" $${tex}$$ " if display else f"${tex}$"


def _hidden(node) -> bool:
    return (HIDDEN_STYLE_RE.search(node.getattr("style") or "") is not None or node.hasattr("hidden")
            or "a11y" in (node.getattr("class") or ""))


def _replace(tree, el, tex: str, display: bool) -> None:
    """Replace `el` (or the hidden wrapper holding only it) by the formula as a text node."""
    target = el
    for _ in range(3):
        parent = target.parent
        if parent is None or parent.tag in ("body", "html") or not _hidden(parent):
            break
        target = parent
    target.replace_with(tree.create_text_node(_delimit(tex, display)))


def _math_tex(el) -> str:
    ann = el.query_selector(TEX_ANNOTATION)
    if ann is not None and ann.text.strip():
        return ann.text
    return el.getattr("alttext") or mathml_to_latex(el)


def _scripts(tree, body) -> int:
    n = 0
    for el in body.query_selector_all('script[type^="math/"]').values():
        kind = el.getattr("type") or ""
        if kind.startswith("math/tex"):
            tex = el.text
        elif kind.startswith("math/mml"):
            from resiliparse.parse.html import HTMLTree

            inner = HTMLTree.parse(el.text).body
            node = inner.query_selector("math") if inner is not None else None
            tex = _math_tex(node) if node is not None else ""
        elif kind.startswith("math/asciimath"):
            tex = asciimath_to_latex(el.text)
        else:
            continue
        display = "mode=display" in kind or 'display="block"' in el.text[:200]
        el.replace_with(tree.create_text_node(_delimit(tex, display) if tex.strip() else ""))
        n += 1
    return n


def _wikipedia(tree, body) -> int:
    n = 0
    for el in body.query_selector_all(".mwe-math-element").values():
        ann = el.query_selector(TEX_ANNOTATION)
        img = el.query_selector("img[alt]")
        tex = ann.text if ann is not None else (img.getattr("alt") if img is not None else el.text)
        display = el.query_selector(".mwe-math-mathml-display, .mwe-math-fallback-image-display") is not None
        el.replace_with(tree.create_text_node(_delimit(tex, display)))
        n += 1
    return n


def _tex_images(tree, body) -> int:
    n = 0
    for el in body.query_selector_all(TEX_IMAGES).values():
        alt = (el.getattr("alt") or "").strip()
        if alt:
            el.replace_with(tree.create_text_node(_delimit(alt.strip("$"), False)))
            n += 1
    return n


def rewrite_math(tree) -> int:
    """Replace every math element of a Resiliparse tree by a LaTeX text node; returns how many.

    One selector pass says whether the page has any math element at all (most pages have none, and
    MathJax pages that write `$…$` in their text need no rewriting); only pages that do pay for the
    per-kind passes below."""
    body = tree.body
    if body is None or body.query_selector(MATH_NODES) is None:
        return 0
    n = _scripts(tree, body)
    for el in body.query_selector_all(".katex").values():
        if el.parent is None:
            continue
        ann = el.query_selector(TEX_ANNOTATION)
        display = "katex-display" in (el.parent.getattr("class") or "")
        el.replace_with(tree.create_text_node(_delimit(ann.text if ann is not None else el.text, display)))
        n += 1
    n += _wikipedia(tree, body)
    for el in body.query_selector_all("math").values():
        if el.parent is not None:
            _replace(tree, el, _math_tex(el), el.getattr("display", "") == "block")
            n += 1
    for el in body.query_selector_all("dt-math").values():
        el.replace_with(tree.create_text_node(_delimit(el.text, el.hasattr("block"))))
        n += 1
    return n + _tex_images(tree, body)


def normalize_delimiters(text: str) -> str:
    """\\(T\\) -> $T$ and \\[T\\] -> $$T$$, so every formula in the corpus uses dollar delimiters."""
    if "\\" not in text:
        return text
    return BRACKET_RE.sub(lambda m: f"$${m.group(1).strip()}$$", PAREN_RE.sub(lambda m: f"${m.group(1).strip()}$", text))


def asciimath_spans(text: str) -> tuple[str, int]:
    """`A` -> $latex(A)$ for every backtick span of a text; returns (text, how many)."""
    count = 0

    def convert(m: re.Match) -> str:
        nonlocal count
        count += 1
        return f"${asciimath_to_latex(html_lib.unescape(m.group(1)))}$"

    return BACKTICK_RE.sub(convert, text), count


@dataclass
class Extracted:
    text: str
    n_math_elements: int
    boilerplate_ratio: float | None  # 1 - main-content chars / all visible chars (None: not measured)


def html_to_text(html: str, boilerplate: bool = True) -> Extracted:
    """Main-content text of a page with its formulas as LaTeX.

    `boilerplate=False` skips the second, whole-page text pass that the boilerplate ratio needs
    (a third of the extraction time)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    n = rewrite_math(tree)
    skip = RENDERED_MATH if n else None
    everything = extract_plain_text(tree, preserve_formatting=False, main_content=False, list_bullets=False,
                                    alt_texts=False, skip_elements=skip) if boilerplate else None
    main = extract_plain_text(tree, preserve_formatting=True, main_content=True, list_bullets=False, skip_elements=skip)
    main = normalize_delimiters(main.strip())
    if "`" in main and ASCIIMATH_CONFIG_RE.search(html):
        main, k = asciimath_spans(main)
        n += k
    if everything is None:
        return Extracted(main, n, None)
    return Extracted(main, n, 1.0 - min(1.0, len(main) / len(everything)) if everything else 1.0)


class MathExtractor(PipelineStep):
    """HTML documents -> text (formulas kept); WET/plain-text documents only get their delimiters normalised.

    Adds metadata `boilerplate_ratio` (when `boilerplate`) and `math_elements`; a page that fails to
    parse is dropped and counted as `dropped_extract_error`, one that yields no text as `dropped_empty_text`.
    """

    name = "∑ math-aware extraction"
    type = "🛢 - EXTRAC"

    def __init__(self, boilerplate: bool = True):
        super().__init__()
        self.boilerplate = boilerplate

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
                        res = html_to_text(doc.text, self.boilerplate)
                    except Exception as exc:  # noqa: BLE001 - a parser failure on one page must not end the task
                        self.stat_update("dropped_extract_error")
                        logger.warning(f"{doc.id}: extraction failed ({type(exc).__name__}: {exc}); page dropped")
                        continue
                    doc.text = res.text
                    if res.boilerplate_ratio is not None:
                        doc.metadata["boilerplate_ratio"] = round(res.boilerplate_ratio, 4)
                    doc.metadata["math_elements"] = res.n_math_elements
            if not doc.text:
                self.stat_update("dropped_empty_text")
                continue
            self.stat_update("forwarded")
            yield doc
