"""Decontamination precision and recall on real data: planted leaks caught, clean real math removed.

    .venv/bin/python benchmarks/bench_decontam.py [--shared ../shared] [--leaks 400]

Index: every local benchmark in shared/data/benchmarks (questions + answers; then + solutions; then
without the minimum span), the rule of corpus.decontaminate.
Recall: --leaks benchmark questions drawn at random (seeded), each planted in a real non-math page in
every variant of corpus.leak_variants (verbatim, whitespace, case, punctuation, line break, HTML through
the extractor); "eligible" questions are those the rule can match at all (10+ tokens, or 3-9 tokens
spanning min_chars/2); a question of 1-2 tokens (`Compute $\\dbinom{8}{4}$.`) is not distinctive.
False removals: texts that quote no benchmark text: the 122 real pages of shared/data/web, the 7,500
MATH train problems with their solutions and the 7,473 GSM8K train problems with theirs (all real
math). MATH train has 4 known duplicates of MATH test questions (shared/data/train/SOURCES.md), which
are true leaks and are counted apart.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
KNOWN_MATH_DUPLICATES = {"algebra/517", "geometry/6032", "algebra/777", "algebra/2197"}


def clean_texts(shared: Path) -> dict[str, list[tuple[str, str]]]:
    """(id, text) of real texts that quote no benchmark: web pages (extracted), MATH and GSM8K train."""
    from corpus.extract import html_to_text
    from corpus.real_sources import read_page_html, web_manifest

    web = shared / "data" / "web"
    out = {"web math pages": [], "web non-math pages": [], "MATH train (problem + solution)": [],
           "GSM8K train (question + answer)": []}
    for p in web_manifest(web):
        key = "web math pages" if p.label == "math" else "web non-math pages"
        out[key].append((p.path.name, html_to_text(read_page_html(p.path)).text))
    for path in sorted((shared / "data/train/math/train").glob("*/*.json")):
        rec = json.loads(path.read_text())
        out["MATH train (problem + solution)"].append((f"{path.parent.name}/{path.stem}", rec["problem"] + "\n" + rec["solution"]))
    for i, line in enumerate((shared / "data/train/gsm8k/train.jsonl").read_text().splitlines()):
        rec = json.loads(line)
        out["GSM8K train (question + answer)"].append((str(i), rec["question"] + "\n" + rec["answer"]))
    return out


def removed(texts: list[tuple[str, str]], index) -> list[tuple[str, str]]:
    from corpus.decontaminate import find_contamination

    out = []
    for i in range(0, len(texts), 512):
        batch = texts[i:i + 512]
        out += [(batch[m.doc][0], m.ngram) for m in find_contamination([t for _, t in batch], index)]
    return out


def eligible(question: str, index) -> bool:
    from corpus.reference import _width, ref_token_spans

    spans = ref_token_spans(question)
    if len(spans) >= index.n:
        return any(_width(spans, i, index.n) >= index.min_chars for i in range(len(spans) - index.n + 1))
    return len(spans) >= 3 and _width(spans, 0, len(spans)) >= index.min_chars // 2


def main() -> None:
    from corpus.config import DecontamConfig
    from corpus.decontam_step import benchmark_items, item_texts
    from corpus.decontaminate import build_index, find_contamination
    from corpus.extract import html_to_text
    from corpus.leak_variants import VARIANTS, leak_variant
    from corpus.real_sources import page_paragraphs, read_page_html, web_manifest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--leaks", type=int, default=400)
    args = ap.parse_args()
    cfg = DecontamConfig(benchmarks_root=str(args.shared / "data" / "benchmarks"))
    items = list(benchmark_items(cfg))
    start = time.perf_counter()
    span = cfg.min_chars
    rules = {f"questions + answers, min span {span} (default)": build_index(item_texts(items, False), min_chars=span),
             f"+ solutions, min span {span}": build_index(item_texts(items, True), min_chars=span),
             "questions + answers, no min span": build_index(item_texts(items, False), min_chars=0)}
    t_index = (time.perf_counter() - start) / len(rules)
    clean = clean_texts(args.shared)

    rng = random.Random(0)
    sample = rng.sample(items, args.leaks)
    hosts = [paras for p in web_manifest(args.shared / "data" / "web") if p.label == "non-math"
             and len(paras := page_paragraphs(read_page_html(p.path))) >= 2]
    planted: dict[str, list[tuple[int, str]]] = {v: [] for v in VARIANTS}
    for k, it in enumerate(sample):
        host = rng.choice(hosts)  # the leak sits between two real paragraphs of a real page
        for v in VARIANTS:
            leak = leak_variant(it.question, v, rng)
            if v == "html":  # a forum-like page, through the extractor like any crawled page
                page = (f"<html><body><nav><a href='/'>Home</a> <a href='/f'>Forum</a></nav><main><article><p>"
                        f"{html.escape(host[0])}</p>{leak}<p>{html.escape(host[1])}</p></article></main>"
                        "<footer>About · Contact</footer></body></html>")
                planted[v].append((k, html_to_text(page).text))
            else:
                planted[v].append((k, f"{host[0]}\n{leak}\n{host[1]}"))

    print(f"\ndecontamination on real data: {len(items)} benchmark items ({len({i.benchmark for i in items})} sets), "
          f"index built in {t_index:.1f} s, {time.strftime('%Y-%m-%d')}\n")
    for name, index in rules.items():
        ok = [eligible(it.question, index) for it in sample]
        print(f"[{name}]  ({len(index.hashes)} n-grams)")
        print(f"  recall on planted leaks ({sum(ok)} eligible of {len(sample)} questions):")
        for v, docs in planted.items():
            hit = {m.doc for m in find_contamination([t for _, t in docs], index)}
            caught = sum(1 for j, (k, _) in enumerate(docs) if ok[k] and j in hit)
            print(f"    {v:12s} {caught}/{sum(ok)} = {caught / max(1, sum(ok)):.3f}")
        print("  false removals on texts quoting no benchmark:")
        for group, texts in clean.items():
            gone = removed(texts, index)
            known = [g for g in gone if g[0] in KNOWN_MATH_DUPLICATES] if group.startswith("MATH") else []
            print(f"    {group:34s} {len(gone) - len(known):5d} / {len(texts):5d}"
                  + (f"   (+{len(known)} known MATH train = test duplicates caught)" if group.startswith("MATH") else ""))
            for doc_id, ngram in [g for g in gone if g not in known][:3]:
                print(f"        e.g. {doc_id}: {ngram[:90]!r}")
        print()


if __name__ == "__main__":
    main()
