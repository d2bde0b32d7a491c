"""stats.duckdb: built by DuckDB from Parquet, checked against a plain-Python count on random pages, opened by the real CLI."""

import collections
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.stats import QUERIES, SCORES_SCHEMA, build_stats, connect, export_round_tables, query
from corpus.urls import url_parts
from mathforge.config import ConfigError

HOSTS = ["math.stackexchange.com", "gaming.stackexchange.com", "www.bbc.co.uk", "kalo.github.io", "news.example.com",
         "www.math.mit.edu", "10.0.0.1"]
PATHS = ["/questions/{i}/slug", "/wiki/Page_{i}", "/news/2023/{i}", "/t/mathematics/{i}", "/t/cars/{i}", "/p{i}", "/"]
THRESHOLDS = {1: 0.7, 2: 0.5}


def write_round(run_dir: Path, rnd: int, pages: list[dict]) -> None:
    out = run_dir / "rounds" / str(rnd) / "scores"
    out.mkdir(parents=True, exist_ok=True)
    for shard in range(2):
        pq.write_table(pa.Table.from_pylist(pages[shard::2], schema=SCORES_SCHEMA), out / f"{shard:05d}.parquet")


@pytest.fixture(scope="module")
def stats_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("stats")
    rng = random.Random(1)
    urls = [f"https://{rng.choice(HOSTS)}" + rng.choice(PATHS).format(i=i) for i in range(600)]
    rows = {}
    for rnd in (1, 2):
        pages = []
        for i, url in enumerate(urls):
            host, domain, path = url_parts(url)
            score = round(rng.random() ** (2 if "math" in url else 4), 6)
            pages.append({"id": f"d{i}", "url": url, "host": host, "domain": domain, "path": path, "round": rnd,
                          "score": score, "tokens": rng.randint(10, 500)})
        write_round(run_dir, rnd, pages)
        rows[rnd] = pages
    db = build_stats(run_dir, THRESHOLDS, 0.10)
    return run_dir, db, rows


def test_domains_match_a_python_count(stats_run):
    _, db, rows = stats_run
    con = connect(db, read_only=True)
    got = {(r, d): (p, s, m) for r, d, p, s, m in
           con.execute("SELECT round, domain, pages, selected, is_math FROM domains").fetchall()}
    want = collections.defaultdict(lambda: [0, 0])
    for rnd, pages in rows.items():
        for p in pages:
            want[(rnd, p["domain"])][0] += 1
            want[(rnd, p["domain"])][1] += p["score"] >= THRESHOLDS[rnd]
    assert got == {k: (n, s, s / n > 0.10) for k, (n, s) in want.items()}
    assert {d for _, d in got} >= {"stackexchange.com", "bbc.co.uk", "kalo.github.io", "mit.edu", "10.0.0.1"}


def test_path_prefixes_and_rounds_match_a_python_count(stats_run):
    _, db, rows = stats_run
    con = connect(db, read_only=True)
    got = {(r, d, p): (n, s) for r, d, p, n, s in
           con.execute("SELECT round, domain, prefix, pages, selected FROM path_prefixes WHERE depth = 2").fetchall()}
    want = collections.Counter()
    sel = collections.Counter()
    for rnd, pages in rows.items():
        for p in pages:
            parts = p["path"].split("/")
            if len(parts) > 3:  # two directories and more path after them
                key = (rnd, p["domain"], "/" + "/".join(parts[1:3]) + "/")
                want[key] += 1
                sel[key] += p["score"] >= THRESHOLDS[rnd]
    assert got == {k: (n, sel[k]) for k, n in want.items()}
    growth = con.execute("SELECT round, selected_pages, selected_tokens, overlap_prev FROM rounds ORDER BY round").fetchall()
    sel1 = {p["id"] for p in rows[1] if p["score"] >= 0.7}
    sel2 = {p["id"] for p in rows[2] if p["score"] >= 0.5}
    assert growth[0][:2] == (1, len(sel1)) and growth[0][3] is None
    assert growth[1][1] == len(sel2) and growth[1][3] == pytest.approx(len(sel1 & sel2) / len(sel2))
    assert growth[1][2] == sum(p["tokens"] for p in rows[2] if p["id"] in sel2)


def test_documented_queries_run(stats_run):
    _, db, _ = stats_run
    con = connect(db, read_only=True)
    cols, top = query(con, "math_domains", round=2, top=3)
    assert cols[0] == "domain" and 0 < len(top) <= 3
    assert query(con, "growth")[1][0][0] == 1
    cols, prefixes = query(con, "prefixes", round=2, domain="stackexchange.com", top=10)
    assert [r[0] for r in prefixes] and all(r[0].startswith("/") for r in prefixes)
    assert set(QUERIES) == {"math_domains", "growth", "prefixes"}


def test_round_tables_are_exported_as_parquet(stats_run, tmp_path):
    _, db, rows = stats_run
    export_round_tables(db, 2, tmp_path)
    domains = pq.read_table(tmp_path / "domains.parquet").to_pylist()
    assert {r["round"] for r in domains} == {2} and sum(r["pages"] for r in domains) == len(rows[2])
    assert pq.read_table(tmp_path / "path_prefixes.parquet").num_rows > 0


def duckdb_cli() -> str | None:
    return shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")


def test_the_duckdb_cli_opens_the_file(stats_run):
    _, db, rows = stats_run
    cli = duckdb_cli()
    if cli is None:
        pytest.skip("duckdb CLI not installed (pip install duckdb-cli==1.5.6; the dev extra has it)")
    out = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(db), "-c",
                          "SELECT count(*) FROM pages; SELECT version();"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    count, version = out.stdout.split()
    assert int(count) == len(rows[1]) + len(rows[2]) and version.startswith("v1.")


def test_no_scores_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no scored pages"):
        build_stats(tmp_path, {}, 0.1)
