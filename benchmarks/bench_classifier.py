"""Does the classifier trained through the pipeline transfer to real pages? Real-text crawl vs template crawl.

    .venv/bin/python benchmarks/bench_classifier.py [--shared ../shared] [--pages 1500]

For each sample crawl (built from real text with sample.text_root, and from the generated templates)
this runs `corpus run` with configs/tiny/corpus.toml (make-sample, extract, classifier round 1,
selection), then scores the real pages of shared/data/web, extracted by our extractor:
  all         the 31 math pages vs the 91 non-math pages
  en/zh       only pages our language filter keeps (the pages the classifier scores in a run)
  held out    only non-math pages never used to build the real-text crawl (corpus.real_sources.is_heldout)
AUC, and precision / recall at the round's own threshold (top fraction of the crawl, selection.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_round(tmp: Path, name: str, text_root: str, pages: int) -> tuple[Path, dict]:
    from corpus.config import CorpusRunConfig
    from corpus.pipeline import run_corpus
    from corpus.sample_crawl import make_sample
    from mathforge.config import load_config

    sample, run = tmp / f"{name}-sample", tmp / f"{name}-run"
    cfg = load_config(CorpusRunConfig, REPO / "configs" / "tiny" / "corpus.toml", [
        f"run_dir='{run}'", f"sample.output_dir='{sample}'", f"sample.text_root='{text_root}'", f"sample.pages={pages}",
        f"seed_corpus='{sample}/seed/seed.parquet'", f"ground_truth='{sample}/truth'", f"read.input='{sample}/crawl'",
        f"decontam.jsonl=[{{path='{sample}/benchmark/sample_bench.jsonl', name='sample_bench'}}]"])
    make_sample(cfg.sample)
    summary = run_corpus(cfg)
    return run / "rounds" / "1" / "classifier" / "model.bin", summary


def main() -> None:
    from corpus.classifier import MathClassifier, precision_recall, roc_auc
    from corpus.extract import html_to_text
    from corpus.filters import detect_language
    from corpus.real_sources import is_heldout, read_page_html, web_manifest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--pages", type=int, default=1500)
    args = ap.parse_args()
    data, web = args.shared / "data", args.shared / "data" / "web"
    pages = web_manifest(web)
    texts = [html_to_text(read_page_html(p.path)).text for p in pages]
    labels = np.array([p.label == "math" for p in pages])
    subsets = {"all": np.ones(len(pages), dtype=bool),
               "en/zh": np.array([detect_language(t) in ("en", "zh") for t in texts]),
               "held out": np.array([p.label == "math" or is_heldout(p.path.relative_to(web).as_posix()) for p in pages])}
    tmp = Path(tempfile.mkdtemp(prefix="bench_classifier_"))
    rows = []
    for name, root in (("real-text crawl", str(data)), ("template crawl", "")):
        model, summary = run_round(tmp, name.split()[0], root, args.pages)
        scores = MathClassifier.load(model).scores(texts)
        threshold = summary["threshold"]
        for subset, mask in subsets.items():
            p, r = precision_recall(scores[mask], labels[mask], threshold)
            rows.append((name, subset, int(labels[mask].sum()), int((~labels[mask]).sum()), roc_auc(scores[mask], labels[mask]),
                         p, r, threshold, float(scores.min()), float(scores.max())))
        rows.append((name, "crawl truth", summary["vs_ground_truth"]["math_pages"],
                     summary["vs_ground_truth"]["pages"] - summary["vs_ground_truth"]["math_pages"],
                     summary["vs_ground_truth"]["auc"], summary["vs_ground_truth"]["precision"],
                     summary["vs_ground_truth"]["recall"], threshold, float("nan"), float("nan")))
        print(json.dumps({"crawl": name, "classifier": summary["classifier"]}, indent=None))
    print(f"\nmath classifier on the real pages of shared/data/web, trained by `corpus run` (configs/tiny, "
          f"{args.pages}-page crawl), {time.strftime('%Y-%m-%d')}\n")
    print(f"{'trained on':16s} {'pages':12s} {'math':>5s} {'other':>6s} {'AUC':>6s} {'P@thr':>6s} {'R@thr':>6s} "
          f"{'threshold':>10s} {'score range':>16s}")
    for name, subset, n_pos, n_neg, auc, p, r, thr, lo, hi in rows:
        rng = f"{lo:.4f}-{hi:.4f}" if lo == lo else "-"
        print(f"{name:16s} {subset:12s} {n_pos:5d} {n_neg:6d} {auc:6.3f} {p:6.3f} {r:6.3f} {thr:10.6f} {rng:>16s}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
