"""Real text for the sample crawl, read from a folder laid out like shared/data (`sample.text_root`).

Why: a crawl of template sentences teaches the classifier the templates, not math (on real pages
its AUC was ~0.70). The sample crawl therefore builds its pages from real text when it has some:

  math      MATH train problems + solutions (LaTeX), GSM8K train (plain word problems),
            Ape210K valid (Chinese word problems, the equation as a formula)     <- text_root/train/
  non-math  WikiText-2 sections (English encyclopaedia prose) and the paragraphs of the real
            non-math pages of text_root/web/ (news, blogs, forums in ~20 languages)  <- text_root/web/

Only the crawl half of the real non-math pages is ever read for the crawl (`is_heldout`): the other
half, and every real math page, stay unseen so that benchmarks can measure the classifier on them.
Math items are split the same way into crawl items and seed items (`is_seed_item`), so the seed
set ("OpenWebMath-like" positives) never repeats a crawl page. Labels of the web pages come from
the web folder's manifest (SOURCES.md, column `kind`: "math page" / "non-math page").
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

# A formula in MATH-style text: $$…$$, \[…\], \(…\), $…$ (not \$) or a bare \begin{env}…\end{env}.
FORMULA_RE = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<!\\)\$(.+?)(?<!\\)\$"
                        r"|(\\begin\{([a-z]+\*?)\}.+?\\end\{\6\})", re.S)
MANIFEST_ROW_RE = re.compile(r"^\| ([^|]+?) \| \d+ \| [0-9a-f]{16} \| (math page|non-math page|text) \| [^|]* \| ([^|]*?) \|")
META_CHARSET_RE = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
WIKITEXT_FILES = ("wikitext-2/word_language_model/data/wikitext-2/test.txt",
                  "wikitext-2/word_language_model/data/wikitext-2/valid.txt")


@dataclass(frozen=True)
class Segment:
    """A piece of a math text: prose, or a formula (TeX without delimiters) shown inline or as a display."""

    text: str
    formula: bool = False
    display: bool = False


@dataclass(frozen=True)
class MathItem:
    source: str  # "math", "gsm8k", "ape210k"
    item_id: str
    lang: str
    title: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class WebPage:
    path: Path
    label: str  # "math" or "non-math"
    lang: str


def _bucket(key: str, buckets: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") % buckets


def is_heldout(rel_path: str) -> bool:
    """Half of the real web pages (by a hash of the path) are for evaluation only, never in the crawl."""
    return _bucket("web/" + rel_path, 2) == 0


def is_seed_item(item: MathItem) -> bool:
    """One math item in ten goes to the seed set, the rest to the crawl (so the two never overlap)."""
    return _bucket(f"{item.source}/{item.item_id}", 10) == 0


def split_formulas(text: str) -> list[Segment]:
    """MATH-style LaTeX text -> prose and formula segments (FORMULA_RE)."""
    out, pos = [], 0
    for m in FORMULA_RE.finditer(text):
        if m.start() > pos:
            out.append(Segment(text[pos:m.start()]))
        display_tex, bracket, paren, inline, env = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5)
        tex = next(t for t in (display_tex, bracket, paren, inline, env) if t is not None).strip()
        if tex:
            out.append(Segment(tex, formula=True, display=inline is None and paren is None))
        pos = m.end()
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out


def _math_items(train: Path) -> list[MathItem]:
    items = []
    for path in sorted((train / "math" / "train").glob("*/*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        body = split_formulas(rec["problem"]) + [Segment("\n\nSolution. ")] + split_formulas(rec["solution"])
        items.append(MathItem("math", f"{path.parent.name}/{path.stem}", "en", rec.get("type", "Problem"), tuple(body)))
    return items


def _gsm8k_items(train: Path) -> list[MathItem]:
    items = []
    path = train / "gsm8k" / "train.jsonl"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        rec = json.loads(line)
        work, _, final = rec["answer"].partition("####")
        work = re.sub(r"<<[^>]*>>", "", work).strip()
        text = f"{rec['question']}\n\n{work}\nThe answer is {final.strip()}."
        items.append(MathItem("gsm8k", str(i), "en", "Word problem", (Segment(text),)))
    return items


def _ape_items(train: Path) -> list[MathItem]:
    items = []
    for line in (train / "ape210k" / "valid.ape.json").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        segs = (Segment(rec["original_text"] + "\n解：列式 "), Segment(rec["equation"], formula=True),
                Segment(f"\n答：{rec['ans']}。"))
        items.append(MathItem("ape210k", rec["id"], "zh", "应用题", segs))
    return items


def detokenize_wikitext(line: str) -> str:
    """WikiText's tokenised prose back to plain prose: ` @-@ ` -> `-`, ` , ` -> `, `, `<unk>` dropped."""
    line = re.sub(r" @(.)@ ", r"\1", line.replace("<unk>", ""))
    line = re.sub(r" ([.,;:!?)'%])", r"\1", line)
    line = re.sub(r"([($]) ", r"\1", line)
    return " ".join(line.split())


def wikitext_sections(web: Path) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) for every `= = Section = =` of WikiText-2 test + valid (articles' leads too)."""
    sections: list[tuple[str, list[str]]] = []
    for rel in WIKITEXT_FILES:
        title, paras = "", []
        for raw in (web / rel).read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if re.fullmatch(r"=( =)* .+ (= )*=", line):
                if paras:
                    sections.append((title, paras))
                title, paras = detokenize_wikitext(line.strip("= ")), []
            elif line:
                paras.append(detokenize_wikitext(line))
        if paras:
            sections.append((title, paras))
    return [(t, p) for t, p in sections if sum(len(x) for x in p) >= 300]


def web_manifest(web: Path) -> list[WebPage]:
    """The labelled pages of the web folder's SOURCES.md (rows whose kind is "math page" or "non-math page")."""
    pages = []
    for line in (web / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        m = MANIFEST_ROW_RE.match(line)
        if m and m.group(2) != "text":
            pages.append(WebPage(web / m.group(1), "math" if m.group(2) == "math page" else "non-math", m.group(3)))
    return pages


def read_page_html(path: Path) -> str:
    """A saved page as text: gunzipped when `.gz`, decoded by its <meta charset> (else UTF-8, else detected)."""
    from corpus.read import decode_body

    body = path.read_bytes()
    if path.suffix == ".gz":
        body = gzip.decompress(body)
    m = META_CHARSET_RE.search(body[:4096])
    text, how = decode_body(body, m.group(1).decode() if m else None)
    if text is None:
        raise ValueError(f"{path}: page cannot be decoded ({how})")
    return text


def page_paragraphs(html: str, min_chars: int = 40) -> list[str]:
    """The main-content lines of a page long enough to be prose (CJK counts double, having no spaces)."""
    from corpus.extract import html_to_text

    lines = [ln.strip() for ln in html_to_text(html).text.splitlines()]
    return [ln for ln in lines if len(ln) + sum(1 for c in ln if ord(c) > 0x2E80) >= min_chars]


@dataclass
class RealText:
    """Everything the real-text sample crawl draws from."""

    crawl_math: list[MathItem]
    seed_math: list[MathItem]
    wiki: list[tuple[str, list[str]]]
    web_pages: list[tuple[str, str, list[str]]]  # (lang from the manifest, html, paragraphs), crawl half only

    @functools.cached_property
    def en_math(self) -> list[MathItem]:
        return [i for i in self.crawl_math if i.lang != "zh"]

    @functools.cached_property
    def zh_math(self) -> list[MathItem]:
        return [i for i in self.crawl_math if i.lang == "zh"]

    @functools.cached_property
    def zh_pages(self) -> list[tuple[str, str, list[str]]]:
        return [p for p in self.web_pages if p[0].startswith("zh")]

    def seed_items(self, zh: bool) -> list[MathItem]:
        return [i for i in self.seed_math if (i.lang == "zh") == zh]


@functools.lru_cache(maxsize=2)
def load_real_text(root: str) -> RealText | None:
    """RealText from `root` (laid out like shared/data), or None when its train/ or web/ part is missing."""
    base = Path(root)
    train, web = base / "train", base / "web"
    if not (train / "math" / "train").is_dir() or not (web / "SOURCES.md").is_file():
        return None
    items = _math_items(train) + _gsm8k_items(train) + _ape_items(train)
    pages = [p for p in web_manifest(web) if p.label == "non-math"
             and not is_heldout(p.path.relative_to(web).as_posix())]
    html = [(p.lang, read_page_html(p.path)) for p in pages]
    web_pages = [(lang, h, paras) for lang, h in html if len(paras := page_paragraphs(h)) >= 3]
    return RealText([i for i in items if not is_seed_item(i)], [i for i in items if is_seed_item(i)],
                    wikitext_sections(web), web_pages)
