"""The recall rounds end to end on the sample crawl built from real text (configs/tiny/recall.toml).

One uninterrupted run (module fixture) is checked for what the rounds must show: recall against the
ground truth rising round over round while precision holds, the annotation file driving part of the
gain, statistics that plain SQL and the real `duckdb` CLI read. A second run is killed with SIGKILL in
the middle of round 2 and rerun: its outputs must equal the uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.dataset as ds
import pytest

from corpus.config import CorpusRunConfig
from mathforge.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "tiny" / "recall.toml"


def overrides(sample: Path, run_dir: Path, text_root: Path) -> list[str]:
    return [f"run_dir={run_dir}", f"seed_corpus={sample}/seed/seed.parquet", f"ground_truth={sample}/truth",
            f"sample.output_dir={sample}", f"sample.text_root={text_root}", f"read.input={sample}/crawl",
            f"decontam.jsonl=[{{path = '{sample}/benchmark/sample_bench.jsonl', name = 'sample_bench'}}]",
            f"recall.annotations={REPO / 'configs/tiny/recall_annotations.toml'}"]


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory, shared_data):
    from corpus.recall import run_recall
    from corpus.sample_crawl import make_sample

    root = tmp_path_factory.mktemp("recall")
    args = overrides(root / "sample", root / "run", shared_data)
    cfg = load_config(CorpusRunConfig, CONFIG, args)
    make_sample(cfg.sample)
    return root, args, run_recall(cfg)


def kind_recall(run_dir: Path, truth: str, kind: str, domain: str = "") -> list[float]:
    """Per round: share of the truth's `kind` pages (on `domain`) that the round selected."""
    out = []
    for rnd in sorted(int(p.name) for p in (run_dir / "rounds").iterdir()):
        threshold = json.loads((run_dir / "rounds" / str(rnd) / "selection.json").read_text())["threshold"]
        out.append(duckdb.sql(f"""
            SELECT avg((s.score >= {threshold})::INT)
            FROM read_parquet('{run_dir}/rounds/{rnd}/scores/*.parquet') s
            JOIN (SELECT DISTINCT url, kind FROM read_parquet('{truth}/*.parquet')) t USING (url)
            WHERE t.kind = '{kind}' AND s.domain LIKE '%{domain}'""").fetchall()[0][0])
    return out


def test_recall_rises_round_over_round_while_precision_holds(recall_run):
    _, _, summary = recall_run
    rounds = summary["rounds"]
    truth = [r["vs_ground_truth"] for r in rounds]
    print("per round (precision, recall):", [(round(t["precision"], 3), round(t["recall"], 3)) for t in truth])
    assert len(rounds) >= 3
    assert truth[1]["recall"] > truth[0]["recall"] + 0.05
    assert truth[-1]["recall"] >= truth[1]["recall"] - 0.01
    assert all(t["precision"] >= truth[0]["precision"] - 0.06 for t in truth)
    assert summary["dedup"]["near_duplicates"] > 0 and summary["dedup"]["url_duplicates"] >= 0
    assert summary["removed_by_decontamination"] > 0 and summary["written"] > 0


def test_the_annotation_file_drives_part_of_the_gain(recall_run):
    root, _, _ = recall_run
    run_dir, truth = root / "run", str(root / "sample" / "truth")
    added = ds.dataset(sorted(str(p) for p in run_dir.glob("rounds/*/seed_added.parquet"))).to_table().to_pylist()
    assert added and {r["domain"] for r in added} == {"homeworkhelp.net", "mathnotes.org"}  # never numberchat.com
    assert all(r["reason"].startswith("annotation ") and ("/questions/" in r["url"] or "/wiki/" in r["url"])
               for r in added)
    annotated = kind_recall(run_dir, truth, "math_ascii", "homeworkhelp.net")
    elsewhere = kind_recall(run_dir, truth, "math_ascii", "numberchat.com")
    print("ASCII-math recall per round, annotated site:", annotated, "never-annotated site:", elsewhere)
    assert annotated[0] < 0.5 and annotated[-1] > annotated[0] + 0.2  # the seed pages taught the register
    assert elsewhere[-1] > elsewhere[0] + 0.1  # ... which the classifier then finds where nobody annotated
    manifest = ds.dataset(str(run_dir / "rounds/2/seed_manifest.parquet")).to_table().to_pylist()
    assert {r["reason"].split()[0] for r in manifest} == {"seed_corpus", "annotation"}


def test_stats_answer_plain_sql_and_the_duckdb_cli_opens_them(recall_run):
    root, _, summary = recall_run
    db = root / "run" / "stats.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    math1 = {d for (d,) in con.execute("SELECT domain FROM domains WHERE round = 1 AND is_math").fetchall()}
    first = dict(con.execute("""SELECT domain, min(first_round) FROM domains WHERE domain IN
                                ('homeworkhelp.net', 'mathnotes.org', 'numberchat.com') GROUP BY domain""").fetchall())
    print("first round each recall site was a math domain:", first)
    assert first["homeworkhelp.net"] == 1 and "homeworkhelp.net" in math1
    assert first["numberchat.com"] > 1  # discovered only once a round had learnt the ASCII register
    rounds = con.execute("SELECT round, new_seed_pages, overlap_prev FROM rounds ORDER BY round").fetchall()
    assert [r[0] for r in rounds] == [r["round"] for r in summary["rounds"]] and rounds[0][1] > 0
    prefix = con.execute("""SELECT prefix, fraction FROM path_prefixes WHERE round = 1 AND domain = 'homeworkhelp.net'
                            AND depth = 1 ORDER BY pages DESC LIMIT 1""").fetchall()
    assert prefix[0][0] == "/questions/" and 0.1 < prefix[0][1] < 0.6  # what the person read before annotating
    con.close()
    from test_stats import duckdb_cli

    cli = duckdb_cli()
    if cli is None:
        pytest.skip("duckdb CLI not installed (pip install duckdb-cli==1.5.6; the dev extra has it)")
    out = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(db), "-c",
                          "SELECT count(*) FROM domains WHERE is_math AND round = 1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and int(out.stdout) == len(math1), out.stderr


def test_every_round_leaves_its_artefacts_and_the_report(recall_run):
    root, _, summary = recall_run
    run_dir = root / "run"
    for r in summary["rounds"]:
        d = run_dir / "rounds" / str(r["round"])
        for name in ("classifier/model.bin", "classifier/metrics.json", "seed_manifest.parquet", "selection.json",
                     "annotations.toml", "seed_added.parquet", "domains.parquet", "path_prefixes.parquet", "round.json"):
            assert (d / name).is_file(), d / name
        assert any((run_dir / "corpus" / f"round-{r['round']}").glob("*.parquet")) and r["written"] > 0
        assert any((run_dir / "audit" / f"round-{r['round']}").glob("*.parquet"))
    report = (run_dir / "recall_report.md").read_text()
    assert "| round |" in report and "recall (truth)" in report
    assert (run_dir / "recall_report.png").read_bytes()[:4] == b"\x89PNG"


def outputs(run_dir: Path) -> dict:
    """Everything a run produces that must not depend on interruptions (paths normalised)."""
    def rows(path, order):
        return ds.dataset(str(path), format="parquet").to_table().sort_by(order).to_pylist()

    out = {"summary": json.loads((run_dir / "summary.json").read_text().replace(str(run_dir), "RUN"))}
    for d in sorted((run_dir / "rounds").iterdir()):
        out[d.name] = {"round": json.loads((d / "round.json").read_text()),
                       "selection": (d / "selection.json").read_text(),
                       "scores": rows(d / "scores", "id"), "seed": rows(d / "seed_added.parquet", "id"),
                       "domains": rows(d / "domains.parquet", "domain"),
                       "corpus": rows(run_dir / "corpus" / f"round-{d.name}", "id"),
                       "audit": rows(run_dir / "audit" / f"round-{d.name}", "doc_id")}
    return out


def test_kill_9_during_a_round_then_rerun_gives_identical_output(recall_run):
    root, args, _ = recall_run
    run_dir = root / "killed"
    cmd = [sys.executable, "-m", "mathforge.cli", "corpus", "recall", str(CONFIG),
           *[a.replace(f"run_dir={root / 'run'}", f"run_dir={run_dir}") for a in args]]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (run_dir / "logs" / "recall-score-round2").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before round 2's scoring: no kill point reached"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "rounds/2/round.json").exists()
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert outputs(run_dir) == outputs(root / "run")


def test_killed_during_a_rounds_statistics_resumes_identically(recall_run, tmp_path):
    """The state a kill leaves after a round's scoring, in its statistics (a half-written temporary
    stats file, no seed_added, no round.json, no round corpus): the rerun ends with the same files."""
    from corpus.recall import run_recall

    root, args, _ = recall_run
    run_dir = tmp_path / "run"
    shutil.copytree(root / "run", run_dir)
    last = max(int(p.name) for p in (run_dir / "rounds").iterdir())
    for name in ("round.json", "seed_added.parquet", "domains.parquet", "path_prefixes.parquet", "annotations.toml"):
        (run_dir / "rounds" / str(last) / name).unlink()
    for folder in (f"corpus/round-{last}", f"audit/round-{last}", f"logs/score-round{last}"):
        shutil.rmtree(run_dir / folder)
    (run_dir / "summary.json").unlink()
    (run_dir / ".stats.duckdb.tmp").write_bytes(b"half a DuckDB file")
    run_recall(load_config(CorpusRunConfig, CONFIG, [*args, f"run_dir={run_dir}"]))
    assert outputs(run_dir) == outputs(root / "run")


def test_a_round_selects_by_token_budget(recall_run, tmp_path):
    """The paper's rule in the loop: the top-scoring pages up to a token budget, read off the SQL histogram."""
    from corpus.recall import run_recall
    from corpus.selection import score_bin

    root, args, summary = recall_run
    run_dir = tmp_path / "run"
    shutil.copytree(root / "run", run_dir, ignore=shutil.ignore_patterns(
        "rounds", "corpus", "audit", "stats.duckdb", "recall-score-round*", "score-round*"))  # keep extract + dedup
    budget = summary["rounds"][0]["selected_tokens"]
    out = run_recall(load_config(CorpusRunConfig, CONFIG, [*args, f"run_dir={run_dir}", "recall.max_rounds=1",
                                                           "select.mode=token_budget", f"select.token_budget={budget}"]))
    selection = json.loads((run_dir / "rounds/1/selection.json").read_text())
    assert selection["mode"] == "token_budget" and selection["token_budget"] == budget
    pages = ds.dataset(str(run_dir / "rounds/1/scores")).to_table(columns=["score", "tokens"]).to_pydict()
    scores, tokens = np.array(pages["score"]), np.array(pages["tokens"])
    kept = int(tokens[scores >= selection["threshold"]].sum())
    bins = score_bin(scores, selection["bins"], *selection["range"])
    cut_bin = score_bin(np.array([selection["threshold"]]), selection["bins"], *selection["range"])[0]
    assert out["rounds"][0]["selected_tokens"] == kept >= budget
    assert kept - budget < tokens[bins == cut_bin].sum()  # the overshoot stays inside the threshold's bin


def test_annotate_writes_a_starter_file_that_loads(recall_run, tmp_path):
    from corpus.annotations import load_annotations

    root, _, _ = recall_run
    out = subprocess.run([sys.executable, "-m", "mathforge.cli", "corpus", "annotate", str(root / "run"), "--round", "1",
                          "--out", str(tmp_path / "starter.toml")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "starter.toml").read_text()
    assert '["homeworkhelp.net"]' in text and '"/questions/"' in text and '"/members/"' in text
    load_annotations(tmp_path / "starter.toml")


def test_bad_inputs_give_one_line_errors(recall_run, tmp_path):
    root, args, _ = recall_run
    bad = tmp_path / "urls.toml"
    bad.write_text('["homeworkhelp.net"]\npaths = ["questions/"]\n')
    out = subprocess.run([sys.executable, "-m", "mathforge.cli", "corpus", "recall", str(CONFIG), *args,
                          f"run_dir={tmp_path / 'run'}", f"recall.annotations={bad}"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and str(bad) in out.stderr and "must start with '/'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    from corpus.recall import run_recall

    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = load_config(CorpusRunConfig, CONFIG, [*args, f"run_dir={tmp_path / 'run2'}", f"read.input={empty}"])
    with pytest.raises(ConfigError, match="no \\*.warc.gz file in"):
        run_recall(cfg)
    cfg = load_config(CorpusRunConfig, CONFIG, [*args, f"run_dir={tmp_path / 'run3'}", f"read.input={tmp_path / 'no'}"])
    with pytest.raises(ConfigError, match="read.input: folder not found"):
        run_recall(cfg)


def test_domains_command_errors_are_one_line(recall_run, tmp_path):
    root, _, _ = recall_run
    for argv, message in [([str(tmp_path)], "no statistics here"),
                          ([str(root / "run"), "--round", "9"], "no round 9"),
                          ([str(root / "run"), "--domain", "nosuch.org"], "unknown domain")]:
        out = subprocess.run([sys.executable, "-m", "mathforge.cli", "corpus", "domains", *argv],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = subprocess.run([sys.executable, "-m", "mathforge.cli", "corpus", "domains", str(root / "run"), "--round", "1",
                          "--domain", "homeworkhelp.net"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "/questions/" in out.stdout and "per-round growth" in out.stdout
