"""`mathforge corpus recall`: the paper's collection loop (DeepSeekMath §2.1) over the extracted text cache.

  extract (once; HTML is never parsed again) -> URL dedup + MinHash near-dedup (corpus.dedup) ->
  round k = 1..max_rounds:
    train fastText on the round's seed vs a uniform crawl sample -> score every page (datatrove tasks)
    -> threshold from the score/token histogram (corpus.selection) -> stats.duckdb (corpus.stats)
    -> URL annotation on the math domains (corpus.annotations) -> unselected matching pages join the seed
    -> the round's selection, decontaminated, as corpus/round-<k>/ (the same stage as `corpus run`)
  until max_rounds, or until this share of a round's selection was selected the round before >= stop_overlap;
  the last round's corpus is the result.

Run folder (besides what `corpus run` writes: extracted/, decontam/, corpus/, audit/, logs/):
  deduped/NNNNN.parquet            the deduplicated cache every round reads (EXTRACTED_SCHEMA)
  dedup/                           datatrove's dedup signatures and duplicate lists
  rounds/<k>/seed_manifest.parquet the seed that trained round k: id, url, reason, round (added in)
  rounds/<k>/classifier/           model.bin, metrics.json (held-out P/R/AUC), train.txt
  rounds/<k>/scores/NNNNN.parquet  every page's score in round k (corpus.stats.SCORES_SCHEMA)
  rounds/<k>/selection.json        the threshold and how it was derived
  rounds/<k>/annotations.toml      the annotation file as this round applied it
  rounds/<k>/seed_added.parquet    pages the annotation added to the seed (corpus.stats.SEED_SCHEMA)
  rounds/<k>/domains.parquet, path_prefixes.parquet   the round's domain tables
  rounds/<k>/round.json            the round's figures; its presence marks the round done
  stats.duckdb                     domain statistics (corpus.stats), recall_report.md / .png, summary.json
Every step either finds its finished output (renamed into place) or redoes its work: a run killed
anywhere resumes and ends with the output of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from corpus.config import CorpusRunConfig
from corpus.pipeline import RunPaths
from corpus.selection import ScoreHistogram
from corpus.stats import SEED_SCHEMA, parquet_list
from mathforge.config import ConfigError, save_resolved_config
from mathforge.io import atomic_path, atomic_write_text
from mathforge.log import get_logger

log = get_logger(__name__)


@dataclasses.dataclass
class RecallPaths(RunPaths):
    """RunPaths of round `round`, whose text cache (`extracted`, what scoring reads) is the deduplicated one."""

    @property
    def raw_extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def extracted(self) -> Path:
        return self.root / "deduped"

    @property
    def round_dir(self) -> Path:
        return self.root / "rounds" / str(self.round)

    @property
    def scores(self) -> Path:
        return self.round_dir / "scores"

    @property
    def seed_added(self) -> Path:
        return self.round_dir / "seed_added.parquet"

    @property
    def seed_manifest(self) -> Path:
        return self.round_dir / "seed_manifest.parquet"

    @property
    def annotations(self) -> Path:
        return self.round_dir / "annotations.toml"

    @property
    def done(self) -> Path:
        return self.round_dir / "round.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats.duckdb"

    def at(self, round_no: int) -> RecallPaths:
        return RecallPaths(self.root, round_no)


def scores_row(self, doc) -> dict:
    """datatrove writer adapter: one page's score with the URL parts the statistics group by."""
    from corpus.schema import estimate_tokens
    from corpus.urls import url_parts

    url = doc.metadata.get("url", "")
    host, domain, path = url_parts(url)
    return {"id": doc.id, "url": url, "host": host, "domain": domain, "path": path, "round": self.extra["round"],
            "score": doc.metadata["math_score"], "tokens": estimate_tokens(doc.text)}


def scoring_pipeline(paths: RecallPaths) -> list:
    from datatrove.pipeline.readers import ParquetReader

    from corpus.classifier import MathScorer
    from corpus.schema import AtomicParquetWriter
    from corpus.stats import SCORES_SCHEMA

    return [ParquetReader(str(paths.extracted), glob_pattern="*.parquet"), MathScorer(paths.classifier / "model.bin"),
            AtomicParquetWriter(str(paths.scores), SCORES_SCHEMA, scores_row, extra={"round": paths.round})]


def histogram(scores_dir: Path, bins: int) -> ScoreHistogram:
    """The round's score -> pages/tokens histogram (corpus.selection's bins over the round's score range),
    aggregated by DuckDB over the scoring tasks' Parquet."""
    files = f"read_parquet('{scores_dir}/*.parquet')"
    lo, hi = duckdb.sql(f"SELECT coalesce(min(score), 0), coalesce(max(score), 1) FROM {files}").fetchall()[0]
    hist = ScoreHistogram.empty(bins, lo, hi)
    width = (hi - lo) or 1.0
    rows = duckdb.sql(f"""
        SELECT least(floor((score - {lo}) / {width} * {bins}), {bins - 1})::BIGINT AS bin, count(*), sum(tokens),
               min(score)
        FROM {files} GROUP BY bin""").fetchall()
    for b, pages, tokens, lowest in rows:
        hist.pages[b], hist.tokens[b], hist.min_score[b] = pages, tokens, lowest
    return hist


def seed_files(paths: RecallPaths, before_round: int) -> list[str]:
    return [str(paths.at(k).seed_added) for k in range(1, before_round) if paths.at(k).seed_added.is_file()]


def write_seed_manifest(cfg: CorpusRunConfig, paths: RecallPaths) -> None:
    """rounds/<k>/seed_manifest.parquet: the initial seed (reason seed_corpus) plus every page added before round k."""
    added = seed_files(paths, paths.round)
    extra = (f"UNION ALL SELECT id, url, reason, round FROM read_parquet({parquet_list(added)})" if added else "")
    with atomic_path(paths.seed_manifest) as tmp:
        duckdb.sql(f"""COPY (SELECT 'seed:' || url AS id, url, 'seed_corpus' AS reason, 0 AS round
                             FROM read_parquet('{cfg.seed_corpus}') {extra} ORDER BY round, id)
                       TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)""")


def seed_texts(cfg: CorpusRunConfig, paths: RecallPaths) -> list[str]:
    """Positives of round k: the seed corpus, then the cached text of every page annotation added before k."""
    texts = [r[0] for r in duckdb.sql(f"""
        SELECT text FROM read_parquet('{cfg.seed_corpus}', filename = true, file_row_number = true)
        ORDER BY filename, file_row_number""").fetchall()]
    added = seed_files(paths, paths.round)
    if added:
        texts += [r[0] for r in duckdb.sql(f"""
            SELECT c.text FROM read_parquet('{paths.extracted}/*.parquet') c
            JOIN read_parquet({parquet_list(added)}) s USING (id) ORDER BY c.id""").fetchall()]
    return texts


def thresholds_up_to(paths: RecallPaths, round_no: int) -> dict[int, float]:
    return {k: json.loads(paths.at(k).selection.read_text())["threshold"] for k in range(1, round_no + 1)}


def apply_annotations(cfg: CorpusRunConfig, paths: RecallPaths, db: Path) -> int:
    """Copy the annotation file into the round, match it in stats.duckdb, write seed_added.parquet; returns its rows."""
    from corpus.annotations import check_domains, load_annotations, matching_unselected

    annotations = []
    if cfg.recall.annotations:
        annotations = load_annotations(cfg.recall.annotations)
        with atomic_path(paths.annotations) as tmp:
            shutil.copyfile(cfg.recall.annotations, tmp)
    con = duckdb.connect(str(db))  # the statistics file is ours alone while the round runs
    try:
        check_domains(annotations, con, cfg.recall.annotations)
        added = matching_unselected(con, annotations, paths.round) if annotations else SEED_SCHEMA.empty_table()
    finally:
        con.close()
    with atomic_path(paths.seed_added) as tmp:
        pq.write_table(added, tmp, compression="zstd")
    return added.num_rows


def truth_metrics(paths: RecallPaths, threshold: float, truth: str) -> dict:
    """Precision/recall of the round's selection over the cached pages whose URL the ground truth knows."""
    row = duckdb.sql(f"""
        WITH t AS (SELECT url, bool_or(is_math) AS is_math FROM read_parquet('{truth}/*.parquet') GROUP BY url),
             s AS (SELECT url, score >= {threshold} AS selected FROM read_parquet('{paths.scores}/*.parquet'))
        SELECT count(*) FILTER (WHERE selected AND is_math), count(*) FILTER (WHERE selected),
               count(*) FILTER (WHERE is_math), count(*)
        FROM s JOIN t USING (url)""").fetchall()[0]
    tp, selected, math, known = row
    return {"pages": known, "math_pages": math, "selected": selected,
            "precision": tp / selected if selected else None, "recall": tp / math if math else None}


def run_round(cfg: CorpusRunConfig, paths: RecallPaths, negatives: list[str]) -> dict:
    """One recall round; returns (and writes to rounds/<k>/round.json) its figures. A finished round is read back."""
    from corpus.classifier import train_round
    from corpus.pipeline import run_stage
    from corpus.selection import select_threshold
    from corpus.stats import build_stats, export_round_tables, refresh_seed

    if paths.done.is_file():
        return json.loads(paths.done.read_text())
    k = paths.round
    if not paths.seed_manifest.is_file():
        write_seed_manifest(cfg, paths)
    metrics = train_round(seed_texts(cfg, paths), negatives, cfg.classifier, paths.classifier)
    run_stage(scoring_pipeline(paths), cfg, paths.logs / f"recall-score-round{k}", f"recall-score-round{k}")
    if not paths.selection.is_file():
        _, info = select_threshold(cfg.select, histogram(paths.scores, cfg.select.histogram_bins))
        atomic_write_text(paths.selection, json.dumps(info) + "\n")
    build_stats(paths.root, thresholds_up_to(paths, k), cfg.recall.math_domain_threshold)
    if not paths.seed_added.is_file():  # (a resumed round that has it rebuilt the statistics with it above)
        apply_annotations(cfg, paths, paths.stats)
        refresh_seed(paths.stats, paths.root)
    export_round_tables(paths.stats, k, paths.round_dir)
    con = duckdb.connect(str(paths.stats), read_only=True)
    try:
        cols = [d[0] for d in con.execute("SELECT * FROM rounds WHERE round = $k", {"k": k}).description]
        figures = dict(zip(cols, con.fetchone(), strict=True))
    finally:
        con.close()
    figures["classifier"] = metrics
    written = round_corpus(cfg, paths)  # corpus/round-<k>/ and audit/round-<k>/
    figures.update(written=written["written"], removed_by_decontamination=written["removed_by_decontamination"])
    if cfg.ground_truth:
        figures["vs_ground_truth"] = truth_metrics(paths, figures["threshold"], cfg.ground_truth)
    atomic_write_text(paths.done, json.dumps(figures, indent=2, default=str) + "\n")
    log.info("recall round %d: %s", k, {key: v for key, v in figures.items() if key != "classifier"})
    return figures


def round_corpus(cfg: CorpusRunConfig, paths: RecallPaths) -> dict:
    """The round's selection, decontaminated, as corpus/round-<k>/ with audit/round-<k>/ (pipeline.score_pipeline,
    which re-scores the cache with the round's model: cheap next to extraction); its summary."""
    from corpus.decontam_step import build_decontam_index
    from corpus.pipeline import run_stage, score_pipeline, summarize

    final_cfg = dataclasses.replace(cfg, round=paths.round)
    threshold = json.loads(paths.selection.read_text())["threshold"]
    index_info = None
    if cfg.decontam.enabled:
        if not paths.index_info.is_file():
            info = build_decontam_index(cfg.decontam, paths.index)
            atomic_write_text(paths.index_info, json.dumps(info, indent=2) + "\n")
        index_info = json.loads(paths.index_info.read_text())
    name = f"score-round{paths.round}"
    run_stage(score_pipeline(final_cfg, paths, threshold, cfg.decontam.enabled), final_cfg, paths.logs / name, name)
    metrics = json.loads((paths.classifier / "metrics.json").read_text())
    return summarize(final_cfg, paths, metrics, threshold, index_info)


def stop_reason(cfg: CorpusRunConfig, figures: dict) -> str | None:
    overlap = figures.get("overlap_prev")
    if overlap is not None and overlap >= cfg.recall.stop_overlap:
        return f"round {figures['round']} kept {overlap:.3f} >= stop_overlap {cfg.recall.stop_overlap} of round {figures['round'] - 1}"
    if figures["round"] >= cfg.recall.max_rounds:
        return f"max_rounds {cfg.recall.max_rounds} reached"
    return None


def check_inputs(cfg: CorpusRunConfig) -> None:
    """Fail before any work on what a round would trip on later: seed, annotation file, rounds."""
    from corpus.annotations import load_annotations

    if cfg.recall.max_rounds < 1:
        raise ConfigError(f"recall.max_rounds must be >= 1, got {cfg.recall.max_rounds}")
    if not glob.glob(cfg.seed_corpus):
        raise ConfigError(f"seed_corpus: no seed texts at {cfg.seed_corpus}")
    if "://" not in cfg.read.input:
        if not Path(cfg.read.input).is_dir():
            raise ConfigError(f"read.input: folder not found: {cfg.read.input}")
        if not any(Path(cfg.read.input).glob(cfg.read.glob)):
            raise ConfigError(f"read.input: no {cfg.read.glob} file in {cfg.read.input}")
    if cfg.recall.annotations:
        load_annotations(cfg.recall.annotations)


def run_recall(cfg: CorpusRunConfig) -> dict:
    """The whole loop; returns (and writes) summary.json, recall_report.md and recall_report.png."""
    from corpus.dedup import run_dedup
    from corpus.pipeline import extract_pipeline, run_stage, sample_negatives
    from corpus.recall_report import write_report

    check_inputs(cfg)
    paths = RecallPaths(Path(cfg.run_dir), 1)
    save_resolved_config(cfg, paths.root)
    run_stage(extract_pipeline(cfg, RunPaths(paths.root, 1)), cfg, paths.logs / "extract", "extract")
    if not any(paths.raw_extracted.glob("*.parquet")):
        raise ConfigError(f"{paths.raw_extracted}: the text cache is empty: no page survived extraction from "
                          f"{cfg.read.input}/{cfg.read.glob}")
    dedup = run_dedup(cfg, paths.raw_extracted, paths.extracted, paths.root / "dedup", paths.logs)
    negatives = sample_negatives(paths.extracted, cfg.classifier.negatives, cfg.classifier.seed)
    rounds, reason = [], None
    for k in range(1, cfg.recall.max_rounds + 1):
        paths = paths.at(k)
        rounds.append(run_round(cfg, paths, negatives))
        reason = stop_reason(cfg, rounds[-1])
        if reason:
            break
    summary = round_corpus(cfg, paths)  # the last round's, written during the round: read back
    summary.pop("stages", None)
    summary.update({"dedup": dedup, "rounds": rounds, "stopped": reason, "stats": str(paths.stats)})
    write_report(paths.root, rounds, reason)
    atomic_write_text(paths.summary, json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n")
    return summary
