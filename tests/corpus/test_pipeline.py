"""The whole corpus stage: local run (schema, summary, precision/recall vs truth), resume after kill -9, Slurm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from corpus.classifier import train_round
from corpus.config import CorpusRunConfig
from corpus.pipeline import run_corpus
from corpus.sample_crawl import make_sample
from corpus.schema import CORPUS_SCHEMA
from mathforge.config import load_config

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny" / "corpus.toml"


def overrides(sample: Path, run_dir: Path) -> list[str]:
    """The tiny config pointed at `sample`; a 20k-bucket model keeps each test run's disk use small."""
    return [f"run_dir='{run_dir}'", f"sample.output_dir='{sample}'", f"seed_corpus='{sample}/seed/seed.parquet'",
            f"ground_truth='{sample}/truth'", f"read.input='{sample}/crawl'",
            "classifier.bucket=20000", f"decontam.jsonl=[{{path='{sample}/benchmark/sample_bench.jsonl', name='sample_bench'}}]"]


def config(sample: Path, run_dir: Path, *extra: str) -> CorpusRunConfig:
    return load_config(CorpusRunConfig, TINY, overrides(sample, run_dir) + list(extra))


def output_rows(run_dir: Path) -> list[dict]:
    rows = ds.dataset(str(run_dir / "corpus" / "round-1"), format="parquet").to_table().to_pylist()
    return sorted(rows, key=lambda r: r["id"])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    cfg = config(out, out / "unused")
    cfg.sample.pages, cfg.sample.huge_page_bytes = 1200, 6_000_000
    make_sample(cfg.sample)
    return out


@pytest.fixture(scope="module")
def local_run(sample, tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, run_corpus(config(sample, run_dir))


@pytest.mark.timeout(300)
def test_local_run_outputs_and_summary(local_run):
    run_dir, summary = local_run
    files = sorted((run_dir / "corpus" / "round-1").glob("*.parquet"))
    assert files and all(ds.dataset(str(f)).schema.equals(CORPUS_SCHEMA) for f in files)
    assert ds.dataset(str(files[0])).files and "zstd" in str(
        __import__("pyarrow.parquet").parquet.ParquetFile(files[0]).metadata.row_group(0).column(0).compression).lower()
    rows = output_rows(run_dir)
    assert len(rows) == summary["written"] > 0
    assert all(r["math_score"] >= summary["threshold"] and r["round"] == 1 and r["token_estimate"] > 0 for r in rows)
    assert summary["read"] == 1202 and summary["skipped_records"]["truncated_gzip"] == 1
    assert summary["extracted"] - sum(summary["filtered"].values()) == summary["cached"]
    assert summary["cached"] - summary["below_threshold"] - summary["removed_by_decontamination"] == summary["written"]
    truth = summary["vs_ground_truth"]
    print(f"\nclassifier vs ground truth: precision {truth['precision']:.3f} recall {truth['recall']:.3f} "
          f"auc {truth['auc']:.3f} on {truth['pages']} pages; held-out {summary['classifier']}")
    assert truth["precision"] > 0.9 and truth["recall"] > 0.8
    # the sample plants benchmark problems in ~2% of pages: decontamination finds them and says why
    audit = ds.dataset(str(run_dir / "audit" / "round-1"), format="parquet").to_table().to_pylist()
    assert len(audit) == summary["removed_by_decontamination"] > 5
    assert {a["kind"] for a in audit} == {"ngram", "exact"} and not {a["doc_id"] for a in audit} & {r["id"] for r in rows}
    assert json.loads((run_dir / "summary.json").read_text())["written"] == len(rows)
    assert (run_dir / "config.json").is_file()


def test_finished_round_is_reused(local_run, sample):
    run_dir, summary = local_run
    model = run_dir / "rounds" / "1" / "classifier" / "model.bin"
    before = model.stat().st_mtime_ns
    cfg = config(sample, run_dir).classifier
    assert train_round([], [], cfg, model.parent) == summary["classifier"]
    assert model.stat().st_mtime_ns == before


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kill_when", ["logs/extract/completions/00000", "rounds/1/classifier/model.bin"])
def test_kill_9_then_rerun_gives_identical_output(local_run, sample, tmp_path, kill_when):
    ref_dir, _ = local_run
    # the same as `mathforge corpus run CONFIG ...`, without loading the other packages' command groups
    script = ("import sys; from corpus.cli import run_corpus; from argparse import Namespace; "
              "sys.exit(run_corpus(Namespace(config=sys.argv[1], overrides=sys.argv[2:])))")
    cmd = [sys.executable, "-c", script, str(TINY), *overrides(sample, tmp_path), "executor.tasks=4", "executor.workers=1"]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / kill_when).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "summary.json").exists()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    got, want = output_rows(tmp_path), output_rows(ref_dir)
    assert len(got) == len(want) and [r["id"] for r in got] == [r["id"] for r in want]
    assert got == want
    assert not list((tmp_path / "corpus" / "round-1").glob("_tmp/*.parquet"))


@pytest.mark.slurm
@pytest.mark.timeout(300)
def test_slurm_run_matches_local(slurm_cluster, local_run, sample, tmp_path):
    ref_dir, ref_summary = local_run
    venv = Path(sys.executable).parent / "activate"
    summary = run_corpus(config(sample, tmp_path, "executor.kind='slurm'", f"executor.venv_path='{venv}'",
                                "executor.mem_per_cpu_gb=1", "executor.time='00:10:00'"))
    assert summary["written"] == ref_summary["written"]
    assert output_rows(tmp_path) == output_rows(ref_dir)
    assert (tmp_path / "logs" / "extract" / "launch_script.slurm").is_file()


@pytest.mark.timeout(300)
def test_next_round_reuses_cached_text_and_selects_top_fraction(local_run, sample, tmp_path):
    import shutil

    ref_dir, ref_summary = local_run
    run_dir = tmp_path / "run"
    shutil.copytree(ref_dir, run_dir)
    cached = {p.name: p.stat().st_mtime_ns for p in (run_dir / "extracted").glob("*.parquet")}
    summary = run_corpus(config(sample, run_dir, "round=2", "select.mode='top_fraction'", "select.top_fraction=0.2",
                                "decontam.enabled=false", "write_dropped=true"))
    assert {p.name: p.stat().st_mtime_ns for p in (run_dir / "extracted").glob("*.parquet")} == cached
    assert summary["cached"] == ref_summary["cached"]  # the extraction stage was not run again
    rows = ds.dataset(str(run_dir / "corpus" / "round-2"), format="parquet").to_table().to_pylist()
    assert {r["round"] for r in rows} == {2}
    assert len(rows) == summary["written"] >= round(0.2 * summary["cached"])
    assert json.loads((run_dir / "rounds" / "2" / "selection.json").read_text())["mode"] == "top_fraction"
    dropped = ds.dataset(str(run_dir / "dropped" / "threshold-round2"), format="parquet").to_table().to_pylist()
    assert len(dropped) == summary["below_threshold"] == summary["cached"] - len(rows)
    assert {d["reason"] for d in dropped} == {"below_threshold"}


@pytest.mark.parametrize("n", [1, 37, 500, 1000])
def test_negative_sample_is_the_smallest_hashes_whatever_the_file_split(tmp_path, n):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xxhash

    from corpus.pipeline import sample_negatives

    rows = [{"id": f"doc-{i}", "text": f"text {i}"} for i in range(700)]
    for name, split in (("one", [rows]), ("three", [rows[:100], rows[100:450], rows[450:]])):
        (tmp_path / name).mkdir()
        for k, part in enumerate(split):
            pq.write_table(pa.Table.from_pylist(part), tmp_path / name / f"{k}.parquet")
    want = [r["text"] for r in sorted(rows, key=lambda r: xxhash.xxh64_intdigest(r["id"], seed=5))[:n]]
    assert sample_negatives(tmp_path / "one", n, 5) == want == sample_negatives(tmp_path / "three", n, 5)
