"""Extraction on real pages: ours vs plain Resiliparse vs Resiliparse main-content vs Trafilatura (datatrove's).

    .venv/bin/python benchmarks/bench_extract.py [--web ../shared/data/web] [--repeat 3]

Real data only (shared/data/web, SOURCES.md):
  formula retention  share of the reference formulas (benchmarks/data/formula_reference.json, built by
                     benchmarks/formula_reference.py) whose TeX, whitespace ignored, is in the output;
                     over the 30 math pages that show TeX (the forum page writes math as plain text)
  text recall        share of the gold main text's words (magic-html's own gold `base.json`) in the output
  boilerplate kept   share of the output's words that are not in the gold text (multisets, same pages)
  MB/s               all labelled pages (math and non-math), and the math pages alone; one process, best
                     of --repeat runs, in CPU time of this process (time.process_time: the machine is
                     shared, wall time swings)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WORD_RE = re.compile(r"[^\W_]+|[\u3040-\u30ff\u3400-\u9fff]")
CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def words(text: str) -> Counter:
    out = Counter()
    for w in WORD_RE.findall(text.lower()):
        out.update(CJK_RE.findall(w) if CJK_RE.search(w) else [w])
    return out


def extractors() -> dict:
    from datatrove.pipeline.extractors import Trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    from corpus.extract import html_to_text

    traf = Trafilatura(timeout=30)
    return {
        "ours (math-aware, main content)": lambda h: html_to_text(h, boilerplate=False).text,
        "ours + boilerplate ratio (2nd pass)": lambda h: html_to_text(h).text,
        "Resiliparse plain (defaults)": extract_plain_text,
        "Resiliparse main-content": lambda h: extract_plain_text(h, main_content=True),
        "Trafilatura (datatrove defaults)": lambda h: traf.extract(h) or "",
    }


def main() -> None:
    from corpus.real_sources import read_page_html, web_manifest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--web", type=Path, default=REPO.parent / "shared" / "data" / "web")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not (args.web / "SOURCES.md").is_file():
        raise SystemExit(f"real pages not found at {args.web} (pass --web)")
    reference = json.loads((REPO / "benchmarks" / "data" / "formula_reference.json").read_text())["pages"]
    pages = {p.path.relative_to(args.web).as_posix(): read_page_html(p.path) for p in web_manifest(args.web)}
    gold = {}
    for kind in ("article", "forum"):
        for key, row in json.loads((args.web / f"magic-html/benchmark/data/{kind}/base.json").read_text()).items():
            rel = f"magic-html/benchmark/data/{kind}/htmls/{key}.html"
            if rel in pages:
                gold[rel] = row["content"]
    mb = sum(len(h.encode()) for h in pages.values()) / 1e6
    math_mb = sum(len(pages[rel].encode()) for rel in reference) / 1e6
    rows = []
    for name, fn in extractors().items():
        best, best_math, outputs = float("inf"), float("inf"), {}
        for _ in range(args.repeat):
            start = time.process_time()
            outputs = {rel: fn(h) for rel, h in pages.items()}
            best = min(best, time.process_time() - start)
            start = time.process_time()
            for rel in reference:
                fn(pages[rel])
            best_math = min(best_math, time.process_time() - start)
        found = total = 0
        for rel, formulas in reference.items():
            text = squash(outputs[rel])
            total += len(formulas)
            found += sum(squash(f) in text for f in formulas)
        hit = gold_n = out_n = 0
        for rel, content in gold.items():
            g, o = words(content), words(outputs[rel])
            common = sum((g & o).values())
            hit, gold_n, out_n = hit + common, gold_n + sum(g.values()), out_n + sum(o.values())
        rows.append((name, found / total, hit / gold_n, 1 - hit / max(1, out_n), mb / best, math_mb / best_math))
    print(f"\nextraction on real pages ({len(pages)} pages, {mb:.1f} MB, math pages {math_mb:.1f} MB; formulas: {sum(map(len, reference.values()))} "
          f"on {sum(1 for v in reference.values() if v)} math pages; text: magic-html gold, {len(gold)} pages), "
          f"{time.strftime('%Y-%m-%d')}\n")
    print(f"{'extractor':38s} {'formula retention':>17s} {'text recall':>11s} {'boilerplate kept':>16s} "
          f"{'MB/s all':>8s} {'MB/s math':>9s}")
    for name, ret, rec, boil, speed, speed_math in rows:
        print(f"{name:38s} {ret:17.3f} {rec:11.3f} {boil:16.3f} {speed:8.1f} {speed_math:9.1f}")


if __name__ == "__main__":
    main()
