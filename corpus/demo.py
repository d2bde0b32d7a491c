"""The corpus stage of `mathforge demo`: a generated crawl through the whole pipeline with the tiny config."""

from __future__ import annotations

from pathlib import Path

from corpus.config import CorpusRunConfig, JsonlBenchmarkConfig
from corpus.pipeline import run_corpus
from corpus.sample_crawl import make_sample
from mathforge.config import load_config

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny" / "corpus.toml"


def run_demo_stage(run_dir: Path) -> dict:
    """Generate ~1.5k pages under run_dir/sample, run configs/tiny/corpus.toml on them into run_dir,
    decontaminating against the sample's own benchmark file; print and return the summary."""
    run_dir = Path(run_dir)
    sample_dir = run_dir / "sample"
    cfg = load_config(CorpusRunConfig, TINY_CONFIG, [
        f"run_dir={str(run_dir)!r}", f"sample.output_dir={str(sample_dir)!r}",
        f"seed_corpus={str(sample_dir / 'seed' / 'seed.parquet')!r}",
        f"ground_truth={str(sample_dir / 'truth')!r}", f"read.input={str(sample_dir / 'crawl')!r}"])
    cfg.decontam.jsonl = [JsonlBenchmarkConfig(str(sample_dir / "benchmark" / "sample_bench.jsonl"), "sample_bench")]
    make_sample(cfg.sample)
    s = run_corpus(cfg)
    truth = s.get("vs_ground_truth", {})
    result = {"pages": cfg.sample.pages, "read": s["read"], "skipped_records": s["skipped_records"],
              "extracted": s["extracted"], "filtered": s["filtered"], "cached": s["cached"],
              "removed_by_decontamination": s["removed_by_decontamination"], "written": s["written"],
              "classifier_heldout": {k: s["classifier"][k] for k in ("precision@0.5", "recall@0.5", "auc")},
              "precision_vs_truth": truth.get("precision"), "recall_vs_truth": truth.get("recall"),
              "output_dir": s["output"]}
    print("corpus stage:")
    for key, value in result.items():
        print(f"  {key}: {value}")
    return result
