"""Corpus stage speed and quality, side by side with the stock datatrove path, in one process (= one core).

    .venv/bin/python benchmarks/bench_corpus.py [--pages 2000] [--benchmarks ../shared/data/benchmarks]

Prints docs/s per stage and for the whole pipeline (ours: our WARC reader -> math-aware extraction ->
language/quality filters -> fastText score -> decontamination; stock: WARC reader -> datatrove
Trafilatura -> datatrove FastTextClassifierFilter), formula retention per markup kind on the
generated math pages, and decontamination MB/s against the slow reference (with identical removals).
Stock path notes: it reads with datatrove's own WarcReader (which needs the `bench` extra:
faust-cchardet and python-magic over the system libmagic, in the `dev` extra) and ends the whole task
at a truncated gzip member, so the benchmark's crawl has no broken records; datatrove's n-gram decontamination needs
lighteval (not installable beside this stack), so the stock path has no decontamination step and is
timed without one (which flatters it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def normalize_delimiters(text: str) -> str:
    from corpus.extract import normalize_delimiters as normalize

    return normalize(text)


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def retention(docs_text: dict[str, str], truth: list[dict]) -> dict[str, float]:
    """Share of generated formulas found in the extracted text, with their delimiters (\\( \\) counted as $),
    whitespace ignored."""
    found, total = Counter(), Counter()
    for row in truth:
        formulas = json.loads(row["formulas"])
        if not formulas:
            continue
        text = squash(normalize_delimiters(docs_text.get(row["url"], "")))
        delim = "$$" if row["markup"] in ("display_dollar", "script_display") else "$"
        for f in formulas:
            total[row["markup"]] += 1
            found[row["markup"]] += squash(f"{delim}{f}{delim}") in text
    out = {m: found[m] / total[m] for m in sorted(total)}
    out["all"] = sum(found.values()) / max(1, sum(total.values()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--benchmarks", type=Path, default=REPO.parent / "shared" / "data" / "benchmarks")
    ap.add_argument("--decontam-mb", type=float, default=20.0, help="MB of text for the fast decontamination timing")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_corpus_"))
    os.environ.setdefault("HF_HUB_CACHE", str(tmp / "hf"))
    os.environ.setdefault("HF_ASSETS_CACHE", str(tmp / "hf_assets"))

    import pyarrow.parquet as pq
    import trafilatura  # noqa: F401 - fail here, not in datatrove's extractor sandbox (which retries forever)
    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import FastTextClassifierFilter
    from datatrove.pipeline.readers import WarcReader

    from corpus.classifier import MathScorer, ScoreThresholdFilter, train_round
    from corpus.config import (
        ClassifierConfig,
        DecontamConfig,
        ExtractConfig,
        JsonlBenchmarkConfig,
        SampleConfig,
    )
    from corpus.decontam_step import Decontaminator, benchmark_items, build_decontam_index, item_texts
    from corpus.decontaminate import NGramIndex, find_contamination
    from corpus.extract import MathExtractor
    from corpus.filters import LanguageTagFilter, QualityFilter
    from corpus.read import WarcRecordReader
    from corpus.reference import ref_contaminated
    from corpus.sample_crawl import make_sample

    sample = SampleConfig(output_dir=tmp / "sample", pages=args.pages, shards=1, seed=11, seed_pages=800,
                          faults=False)  # datatrove's WarcReader dies on the truncated gzip member
    make_sample(sample)
    truth = pq.read_table(sample.output_dir / "truth").to_pylist()
    crawl = str(sample.output_dir / "crawl")

    def copies(docs):
        return (Document(d.text, d.id, metadata=dict(d.metadata)) for d in docs)

    rows = []
    html_docs, t_read = timed(lambda: list(WarcRecordReader(crawl).run()))
    n = len(html_docs)
    stock_html, t_read_stock = timed(lambda: list(WarcReader(crawl).run()))
    rows.append(("read WARC (ours vs datatrove WarcReader)", n / t_read, len(stock_html) / t_read_stock))

    ours, t_ours = timed(lambda: list(MathExtractor().run(copies(html_docs))))
    stock, t_stock = timed(lambda: list(Trafilatura(timeout=10).run(copies(html_docs))))
    rows.append(("extract (Resiliparse+math vs Trafilatura)", n / t_ours, n / t_stock))
    ret_ours = retention({d.metadata["url"]: d.text for d in ours}, truth)
    ret_stock = retention({d.metadata["url"]: d.text for d in stock}, truth)

    cfg_x = ExtractConfig()
    kept, t_filt = timed(lambda: list(QualityFilter(cfg_x).run(LanguageTagFilter(cfg_x.languages).run(copies(ours)))))
    rows.append(("language + quality filters (ours only)", len(ours) / t_filt, float("nan")))

    seed = pq.read_table(sample.output_dir / "seed" / "seed.parquet").column("text").to_pylist()
    clf_cfg = ClassifierConfig(positives=800, negatives=800, bucket=200_000)
    metrics = train_round(seed, [d.text for d in kept], clf_cfg, tmp / "clf")
    model = str(tmp / "clf" / "model.bin")
    _, t_score = timed(lambda: deque(MathScorer(model).run(copies(kept)), maxlen=0))
    _, t_score_stock = timed(lambda: deque(
        FastTextClassifierFilter(model, keep_labels=[("math", 0.5)]).run(copies(kept)), maxlen=0))
    rows.append(("fastText score (batched vs per-doc filter)", len(kept) / t_score, len(kept) / t_score_stock))

    if args.benchmarks.is_dir():
        dcfg = DecontamConfig(benchmarks_root=str(args.benchmarks))
        bench_desc = f"all benchmark sets in {args.benchmarks}"
    else:
        dcfg = DecontamConfig(jsonl=[JsonlBenchmarkConfig(str(sample.output_dir / "benchmark" / "sample_bench.jsonl"),
                                                          "sample_bench")])
        bench_desc = "the sample's own benchmark file (shared benchmarks not found)"
    info, t_index = timed(build_decontam_index, dcfg, tmp / "index.npz")
    index = NGramIndex.load(tmp / "index.npz")
    texts = [d.text for d in kept]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    reps = max(1, int(args.decontam_mb / mb))
    find_contamination(texts[:10], index)  # build the presence tables once, as a long-running task would
    start = time.perf_counter()
    for _ in range(reps):
        for i in range(0, len(texts), 512):
            find_contamination(texts[i:i + 512], index)
    fast_mbs = reps * mb / (time.perf_counter() - start)
    sub = texts[:300]
    bench_texts = list(item_texts(benchmark_items(dcfg), dcfg.index_solutions))
    slow_hits, t_slow = timed(lambda: ref_contaminated(sub, bench_texts, min_chars=dcfg.min_chars))
    fast_hits = {m.doc for m in find_contamination(sub, index)}
    same = fast_hits == {i for i, h in enumerate(slow_hits) if h}
    slow_mbs = sum(len(t.encode()) for t in sub) / 1e6 / t_slow

    def our_pipeline():
        steps = [MathExtractor(), LanguageTagFilter(cfg_x.languages), QualityFilter(cfg_x), MathScorer(model),
                 ScoreThresholdFilter(0.5), Decontaminator(tmp / "index.npz", tmp / "audit")]
        data = WarcRecordReader(crawl).run()
        for s in steps:
            data = s.run(data)
        return deque(data, maxlen=0)

    def stock_pipeline():
        data = WarcReader(crawl).run()
        for s in [Trafilatura(timeout=10), FastTextClassifierFilter(model, keep_labels=[("math", 0.5)])]:
            data = s.run(data)
        return deque(data, maxlen=0)

    _, t_pipe = timed(our_pipeline)
    _, t_pipe_stock = timed(stock_pipeline)
    rows.append(("WHOLE PIPELINE", n / t_pipe, n / t_pipe_stock))

    print(f"\ncorpus benchmark: {n} generated pages (seed 11), one process, {time.strftime('%Y-%m-%d')}\n")
    print(f"{'stage':46s} {'ours docs/s':>12s} {'stock docs/s':>13s} {'speed-up':>9s}")
    for name, a, b in rows:
        if b != b:  # no stock counterpart
            print(f"{name:46s} {a:12.0f} {'-':>13s} {'-':>9s}")
        else:
            print(f"{name:46s} {a:12.0f} {b:13.0f} {a / b:8.1f}x")
    print(f"\nformula retention on generated math pages (ours vs stock Trafilatura): "
          f"{ret_ours['all']:.3f} vs {ret_stock['all']:.3f}")
    for m in ret_ours:
        if m != "all":
            print(f"  {m:16s} {ret_ours[m]:.3f}  {ret_stock[m]:.3f}")
    print(f"\ndecontamination against {bench_desc}: {sum(info['items'].values())} items, {info['ngrams']} 10-grams, "
          f"index built in {t_index:.1f} s")
    print(f"  fast: {fast_mbs:.1f} MB/s   slow reference: {slow_mbs:.3f} MB/s   ({fast_mbs / slow_mbs:.0f}x)   "
          f"identical removals on {len(sub)} docs: {same} ({len(fast_hits)} removed)")
    print(f"\nclassifier held-out: P {metrics['precision@0.5']:.3f} R {metrics['recall@0.5']:.3f} AUC {metrics['auc']:.3f}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not same:
        raise SystemExit("fast and reference decontamination disagree")


if __name__ == "__main__":
    main()
