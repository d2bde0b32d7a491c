"""`mathforge corpus run`: crawl -> extracted text cache -> classifier round -> scored, selected,
decontaminated Parquet, on datatrove's local or Slurm executor.

Run folder layout (all under `run_dir`):
  config.json                    resolved config
  extracted/NNNNN.parquet        text cache (corpus.schema.EXTRACTED_SCHEMA), reused by every round
  rounds/<r>/classifier/         model.bin, metrics.json (held-out P/R/AUC), train.txt
  rounds/<r>/selection.json      the threshold used (and how it was chosen)
  decontam/index.npz, decontam/index.json   benchmark n-gram index and what went into it
  corpus/round-<r>/NNNNN.parquet the output (corpus.schema.CORPUS_SCHEMA, zstd)
  audit/round-<r>/NNNNN.parquet  why each removed document went (decontam_step.AUDIT_SCHEMA)
  dropped/<filter>/NNNNN.parquet what each filter removed (only with write_dropped = true)
  logs/<stage>/                  datatrove logs, per-task stats, completions (a rerun skips done tasks)
  summary.json                   counts per stage and per drop reason, classifier metrics
Every stage is resumable: datatrove completions skip finished tasks, outputs are renamed into place.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import xxhash

from corpus.config import CorpusRunConfig, ExecutorConfig
from corpus.schema import (
    CORPUS_SCHEMA,
    DROPPED_SCHEMA,
    EXTRACTED_SCHEMA,
    AtomicParquetWriter,
    corpus_row,
    dropped_row,
    extracted_row,
)
from mathforge.config import ConfigError, save_resolved_config
from mathforge.io import atomic_write_text
from mathforge.log import get_logger

log = get_logger(__name__)
REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunPaths:
    """Where each output of a run lies (see the module docstring)."""

    root: Path
    round: int

    @property
    def extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def classifier(self) -> Path:
        return self.root / "rounds" / str(self.round) / "classifier"

    @property
    def selection(self) -> Path:
        return self.root / "rounds" / str(self.round) / "selection.json"

    @property
    def index(self) -> Path:
        return self.root / "decontam" / "index.npz"

    @property
    def index_info(self) -> Path:
        return self.root / "decontam" / "index.json"

    @property
    def corpus(self) -> Path:
        return self.root / "corpus" / f"round-{self.round}"

    @property
    def audit(self) -> Path:
        return self.root / "audit" / f"round-{self.round}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def extract_pipeline(cfg: CorpusRunConfig, paths: RunPaths) -> list:
    from corpus.extract import MathExtractor
    from corpus.filters import LanguageTagFilter, QualityFilter
    from corpus.read import make_reader

    return [make_reader(cfg.read), MathExtractor(boilerplate=cfg.extract.max_boilerplate_ratio < 1.0),
            LanguageTagFilter(cfg.extract.languages, exclusion_writer=dropped_writer(cfg, paths, "language")),
            QualityFilter(cfg.extract, exclusion_writer=dropped_writer(cfg, paths, "quality")),
            AtomicParquetWriter(str(paths.extracted), EXTRACTED_SCHEMA, extracted_row)]


def dropped_writer(cfg: CorpusRunConfig, paths: RunPaths, name: str) -> AtomicParquetWriter | None:
    """Where a filter writes what it removed (run_dir/dropped/<name>/), when `write_dropped` is on."""
    if not cfg.write_dropped:
        return None
    return AtomicParquetWriter(str(paths.root / "dropped" / name), DROPPED_SCHEMA, dropped_row)


def score_pipeline(cfg: CorpusRunConfig, paths: RunPaths, threshold: float, decontam: bool) -> list:
    from datatrove.pipeline.readers import ParquetReader

    from corpus.classifier import MathScorer, ScoreThresholdFilter
    from corpus.decontam_step import Decontaminator

    steps = [ParquetReader(str(paths.extracted), glob_pattern="*.parquet"),
             MathScorer(paths.classifier / "model.bin"),
             ScoreThresholdFilter(threshold, exclusion_writer=dropped_writer(cfg, paths, f"threshold-round{cfg.round}"))]
    if decontam:
        steps.append(Decontaminator(paths.index, paths.audit,
                                    exclusion_writer=dropped_writer(cfg, paths, f"decontam-round{cfg.round}")))
    steps.append(AtomicParquetWriter(str(paths.corpus), CORPUS_SCHEMA, corpus_row, extra={"round": cfg.round}))
    return steps


def make_executor(pipeline: list, ex: ExecutorConfig, logging_dir: Path, name: str):
    if ex.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(pipeline, tasks=ex.tasks, workers=ex.workers, logging_dir=str(logging_dir))
    from datatrove.executor import SlurmPipelineExecutor

    venv = Path(ex.venv_path).resolve()
    return SlurmPipelineExecutor(
        pipeline, tasks=ex.tasks, time=ex.time, partition=ex.partition, cpus_per_task=ex.cpus_per_task,
        mem_per_cpu_gb=ex.mem_per_cpu_gb, job_name=f"mathforge-{name}", logging_dir=str(logging_dir),
        env_command=f"source {venv}; export PYTHONPATH={REPO}:$PYTHONPATH", requeue=False)


def run_stage(pipeline: list, cfg: CorpusRunConfig, logging_dir: Path, name: str, poll_s: float = 2.0) -> None:
    """Run one datatrove stage to completion (Slurm: submit, then wait for every task's completion file)."""
    executor = make_executor(pipeline, cfg.executor, logging_dir, name)
    log.info("stage %s: %s executor, %d tasks", name, cfg.executor.kind, cfg.executor.tasks)
    executor.run()
    if cfg.executor.kind == "slurm":
        wait_for_slurm(executor, logging_dir, name, poll_s)


def wait_for_slurm(executor, logging_dir: Path, name: str, poll_s: float) -> None:
    """Block until every task has its completion file; fail when the job left the queue without them."""
    job = str(executor.job_id)
    while executor.get_incomplete_ranks():
        time.sleep(poll_s)
        out = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            continue
        time.sleep(poll_s)  # completion files are written just before the job leaves the queue
        if executor.get_incomplete_ranks():
            raise RuntimeError(f"slurm job {job} ({name}) ended with tasks incomplete; see {logging_dir}/slurm_logs")


def stage_counts(logging_dir: Path) -> dict[str, dict[str, int]]:
    """Per-step counters summed over the stage's tasks (datatrove stats/NNNNN.json)."""
    from datatrove.utils.stats import PipelineStats

    total = PipelineStats()
    for f in sorted((logging_dir / "stats").glob("*.json")):
        total = total + PipelineStats.from_json(json.loads(f.read_text()))
    out: dict[str, dict[str, int]] = {}
    for step in json.loads(total.to_json()):
        counts = {k: (v if isinstance(v, int) else v.get("total", 0)) for k, v in step["stats"].items()}
        out[step["name"]] = {k: int(v) for k, v in counts.items() if k not in ("doc_len", "doc_len_tokens")}
    return out


def read_texts(path: Path, column: str = "text") -> list[str]:
    return ds.dataset(str(path), format="parquet").to_table(columns=[column]).column(column).to_pylist()


def sample_negatives(extracted: Path, n: int, seed: int) -> list[str]:
    """The n crawl texts with the smallest xxhash64(id, seed): a uniform sample, independent of file order.

    One streaming pass keeps only candidates under a hash cut-off sized for ~1.2 n of the rows (the
    cut-off widens and the pass repeats in the rare case that leaves fewer than n).
    """
    dataset = ds.dataset(str(extracted), format="parquet")
    total = dataset.count_rows()
    if total == 0:
        return []
    share = min(1.0, 1.2 * n / total)
    while True:
        cutoff = 2**64 - 1 if share >= 1.0 else int(share * 2**64)
        keys: list[int] = []
        texts: list[str] = []
        for batch in dataset.to_batches(columns=["id", "text"], batch_size=8192):
            for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist(), strict=True):
                key = xxhash.xxh64_intdigest(doc_id, seed=seed)
                if key <= cutoff:
                    keys.append(key)
                    texts.append(text)
        if len(keys) >= min(n, total) or share >= 1.0:
            order = np.argsort(np.array(keys, dtype=np.uint64), kind="stable")[:n]
            return [texts[i] for i in order]
        share = min(1.0, share * 2)


def score_extracted(paths: RunPaths) -> tuple[list[str], np.ndarray]:
    """(url, math_score) of every cached page, in file order (for top-fraction selection and truth metrics)."""
    from corpus.classifier import MathClassifier

    clf = MathClassifier.load(paths.classifier / "model.bin")
    urls, scores = [], []
    for batch in ds.dataset(str(paths.extracted), format="parquet").to_batches(columns=["url", "text"], batch_size=4096):
        urls += batch.column("url").to_pylist()
        scores.append(clf.scores(batch.column("text").to_pylist()))
    return urls, np.concatenate(scores) if scores else np.zeros(0)


def truth_metrics(urls: list[str], scores: np.ndarray, threshold: float, truth_path: str) -> dict:
    """Precision/recall of `score >= threshold` on the extracted pages against the sample's ground truth."""
    from corpus.classifier import precision_recall, roc_auc

    truth = ds.dataset(truth_path, format="parquet").to_table(columns=["url", "is_math"]).to_pylist()
    is_math = {r["url"]: r["is_math"] for r in truth}
    known = [i for i, u in enumerate(urls) if u in is_math]
    labels = np.array([is_math[urls[i]] for i in known], dtype=bool)
    p, r = precision_recall(scores[known], labels, threshold)
    return {"pages": len(known), "math_pages": int(labels.sum()), "precision": p, "recall": r,
            "auc": roc_auc(scores[known], labels), "threshold": threshold}


def run_corpus(cfg: CorpusRunConfig) -> dict:
    """The whole stage; returns (and writes) the summary."""
    from corpus.classifier import top_fraction_threshold, train_round
    from corpus.decontam_step import build_decontam_index

    paths = RunPaths(Path(cfg.run_dir), cfg.round)
    save_resolved_config(cfg, paths.root)
    logs = paths.logs
    run_stage(extract_pipeline(cfg, paths), cfg, logs / "extract", "extract")

    positives = read_texts(Path(cfg.seed_corpus)) if Path(cfg.seed_corpus).exists() else []
    if not positives:
        raise ConfigError(f"seed_corpus: no seed texts at {cfg.seed_corpus}")
    negatives = sample_negatives(paths.extracted, cfg.classifier.negatives, cfg.classifier.seed)
    metrics = train_round(positives, negatives, cfg.classifier, paths.classifier)

    urls, scores = ([], np.zeros(0))
    if cfg.select.mode != "threshold" or cfg.ground_truth:
        urls, scores = score_extracted(paths)
    threshold = (top_fraction_threshold(scores, cfg.select.top_fraction) if cfg.select.mode == "top_fraction"
                 else cfg.select.threshold)
    if cfg.select.mode == "token_budget":  # corpus.selection: the top-scoring pages up to the token budget
        from corpus.selection import threshold_for_texts

        threshold = threshold_for_texts(cfg.select, scores, read_texts(paths.extracted))
    atomic_write_text(paths.selection, json.dumps({"mode": cfg.select.mode, "threshold": threshold}) + "\n")

    index_info = None
    if cfg.decontam.enabled:
        if not paths.index.is_file():
            info = build_decontam_index(cfg.decontam, paths.index)
            atomic_write_text(paths.index_info, json.dumps(info, indent=2) + "\n")
        index_info = json.loads(paths.index_info.read_text())
    run_stage(score_pipeline(cfg, paths, threshold, cfg.decontam.enabled), cfg, logs / f"score-round{cfg.round}",
              f"score-round{cfg.round}")
    summary = summarize(cfg, paths, metrics, threshold, index_info)
    if cfg.ground_truth:
        summary["vs_ground_truth"] = truth_metrics(urls, scores, threshold, cfg.ground_truth)
    atomic_write_text(paths.summary, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def summarize(cfg: CorpusRunConfig, paths: RunPaths, metrics: dict, threshold: float, index_info: dict | None) -> dict:
    ext = stage_counts(paths.logs / "extract")
    sco = stage_counts(paths.logs / f"score-round{cfg.round}")

    def step(counts: dict, prefix: str) -> dict:
        return next((v for k, v in counts.items() if prefix in k), {})

    reader, extractor = step(ext, "READER"), step(ext, "extraction")
    lang, quality = step(ext, "language"), step(ext, "quality")
    dec = step(sco, "decontamination")
    written = int(ds.dataset(str(paths.corpus), format="parquet").count_rows()) if paths.corpus.is_dir() else 0
    return {
        "round": cfg.round,
        "read": reader.get("documents", 0),
        "skipped_records": {k.removeprefix("skipped_"): v for k, v in reader.items() if k.startswith("skipped_")},
        "recovered_encoding": reader.get("recovered_encoding", 0),
        "extracted": extractor.get("forwarded", 0),
        "filtered": {**{k.removeprefix("dropped_"): v for k, v in {**extractor, **lang, **quality}.items()
                        if k.startswith("dropped_")}},
        "cached": quality.get("forwarded", 0),
        "below_threshold": step(sco, "threshold").get("dropped", 0),
        "removed_by_decontamination": dec.get("dropped", 0),
        "written": written,
        "threshold": threshold,
        "classifier": metrics,
        "decontam_index": index_info,
        "output": str(paths.corpus),
        "stages": {"extract": ext, f"score-round{cfg.round}": sco},
    }
