"""Recall-round cost with the text cache vs re-extracting the HTML each round, and near-dedup throughput.

    .venv/bin/python benchmarks/bench_recall.py [--pages 3000] [--text-root ../shared/data] [--workdir /tmp/bench-recall]

Writes a sample crawl (real text under --text-root when given, else generated templates; recall
pages on), then times, in one process (executor: 1 task, 1 worker = one core):
  extract      WARC -> math-aware text -> filters -> extracted/ (what every round would redo without the cache)
  dedup        datatrove URL dedup + MinHash near-dedup, per stage, docs/s
  round        one recall round over the cache: fastText training, scoring (datatrove), histogram,
               stats.duckdb, annotation, the round's decontaminated corpus (a second scoring pass)
and prints a round with the cache against a round that re-extracts (extract + the same round).
Times are CPU seconds (this process and its children), so that other jobs on the machine do not count.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def config(workdir: Path, pages: int, text_root: str):
    from corpus.config import CorpusRunConfig
    from mathforge.config import load_config

    return load_config(CorpusRunConfig, REPO / "configs" / "tiny" / "recall.toml", [
        f"run_dir={workdir / 'run'}", f"seed_corpus={workdir / 'sample/seed/seed.parquet'}",
        f"ground_truth={workdir / 'sample/truth'}", f"sample.output_dir={workdir / 'sample'}",
        f"sample.pages={pages}", f"sample.text_root={text_root}", f"read.input={workdir / 'sample/crawl'}",
        f"recall.annotations={REPO / 'configs/tiny/recall_annotations.toml'}", "executor.tasks=1",
        "executor.workers=1",
        f"decontam.jsonl=[{{path = '{workdir / 'sample/benchmark/sample_bench.jsonl'}', name = 'sample_bench'}}]"])


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (fastText trains in a spawned child)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, *args):
    """(result, CPU seconds): CPU time, not wall time, because this 2-core machine is shared and loaded."""
    start = cpu_seconds()
    out = fn(*args)
    return out, cpu_seconds() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--text-root", default="")
    parser.add_argument("--workdir", default="/tmp/bench-recall")
    args = parser.parse_args()
    from corpus.dedup import dedup_stages
    from corpus.pipeline import RunPaths, extract_pipeline, run_stage, sample_negatives
    from corpus.recall import RecallPaths, run_round
    from corpus.sample_crawl import make_sample

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    cfg = config(workdir, args.pages, args.text_root)
    make_sample(cfg.sample)
    paths = RecallPaths(Path(cfg.run_dir), 1)
    _, t_extract = timed(run_stage, extract_pipeline(cfg, RunPaths(paths.root, 1)), cfg, paths.logs / "extract", "extract")
    cached = sum(1 for _ in paths.raw_extracted.glob("*.parquet"))
    import pyarrow.dataset as ds

    n_cached = ds.dataset(str(paths.raw_extracted), format="parquet").count_rows()
    stage_times = {}
    for name, pipeline, tasks in dedup_stages(cfg, paths.raw_extracted, paths.extracted, paths.root / "dedup"):
        stage_cfg = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, tasks=tasks))
        _, stage_times[name] = timed(run_stage, pipeline, stage_cfg, paths.logs / f"dedup-{name}", f"dedup-{name}")
    n_deduped = ds.dataset(str(paths.extracted), format="parquet").count_rows()
    negatives = sample_negatives(paths.extracted, cfg.classifier.negatives, cfg.classifier.seed)
    figures, t_round = timed(run_round, cfg, paths, negatives)
    score_log = paths.logs / "recall-score-round1"
    near = sum(t for n, t in stage_times.items() if n.startswith("minhash") or n == "write")
    print(f"sample crawl: {args.pages} pages ({'real text' if args.text_root else 'generated templates'}), "
          f"{n_cached} cached in {cached} file(s), {n_deduped} after dedup; one core")
    print(f"{'step':<34}{'CPU s':>10}{'docs/CPU s':>12}   (machine load average {os.getloadavg()[0]:.1f})")
    print(f"{'extract (WARC -> text cache)':<34}{t_extract:>10.2f}{args.pages / t_extract:>12.0f}")
    for name, t in stage_times.items():
        print(f"{'dedup ' + name:<34}{t:>10.2f}{n_cached / t:>12.0f}")
    print(f"{'near-dedup (MinHash stages + write)':<34}{near:>10.2f}{n_cached / near:>12.0f}")
    print(f"{'recall round 1 over the cache':<34}{t_round:>10.2f}{n_deduped / t_round:>12.0f}")
    print(f"round with the cache: {t_round:.2f} CPU s; re-extracting each round: {t_extract + t_round:.2f} CPU s "
          f"(saving {t_extract:.2f} s = {t_extract / (t_extract + t_round):.0%} per round after the first)")
    print(f"round 1: {figures['selected_pages']} selected, {figures['new_seed_pages']} new seed pages, "
          f"scoring log {score_log}")


if __name__ == "__main__":
    main()
