"""Domain statistics of a recall run in one DuckDB file, `run_dir/stats.duckdb`, built by DuckDB from Parquet.

Inputs (written by corpus.recall): rounds/<k>/scores/*.parquet (every scored page of round k:
SCORES_SCHEMA) and rounds/<k>/seed_added.parquet (pages the URL annotation added to the seed).
DuckDB reads them with `read_parquet` and aggregates in SQL: no Python loop touches a row.

Tables (one row per page and round, so a page's history across rounds is a GROUP BY away):
  pages          id, url, host, domain (registered domain), path, path_prefix (first directory,
                 '/questions/'), round, score, selected, tokens
  domains        round, domain, pages, selected, selected_fraction, first_round (first round the
                 domain was math), is_math (selected_fraction > math_domain_threshold)
  path_prefixes  round, domain, prefix (first one or two directories), depth, pages, selected, fraction
  seed_pages     id, url, domain, pattern, reason, round (the round whose annotation added it)
  rounds         round, threshold, pages, selected_pages, selected_tokens, math_domains,
                 new_math_domains, new_seed_pages, overlap_prev (share of the round's selection that
                 the previous round had selected too)
The file is written with `storage_compatibility_version` so that the DuckDB CLI 1.5 opens it
(`duckdb runs/x/stats.duckdb`); it is built under a temporary name and renamed into place.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from mathforge.config import ConfigError

STORAGE_COMPATIBILITY = "v1.5.0"  # the duckdb-cli 1.5.x reads storage <= 68; duckdb 2.0 writes 69 by default
SCORES_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("host", pa.string()), ("domain", pa.string()), ("path", pa.string()),
    ("round", pa.int32()), ("score", pa.float64()), ("tokens", pa.int64()),
])
SEED_SCHEMA = pa.schema([("id", pa.string()), ("url", pa.string()), ("domain", pa.string()), ("pattern", pa.string()),
                         ("reason", pa.string()), ("round", pa.int32())])

# The documented queries (README, `mathforge corpus domains`, benchmarks/bench_stats.py): $round, $domain, $top.
QUERIES = {
    "math_domains": """
        SELECT domain, pages, selected, round(selected_fraction, 3) AS selected_fraction, first_round
        FROM domains WHERE round = $round AND is_math
        ORDER BY selected DESC, domain LIMIT $top""",
    "growth": """
        SELECT round, threshold, pages, selected_pages, selected_tokens, math_domains, new_math_domains,
               new_seed_pages, round(overlap_prev, 4) AS overlap_prev
        FROM rounds ORDER BY round""",
    "prefixes": """
        SELECT prefix, depth, pages, selected, round(fraction, 3) AS fraction
        FROM path_prefixes WHERE round = $round AND domain = $domain AND pages > 1
        ORDER BY fraction DESC, pages DESC, prefix LIMIT $top""",
}


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a stats file; new files get the CLI-readable storage version."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})


def parquet_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def build_stats(run_dir: str | Path, thresholds: dict[int, float], math_domain_threshold: float,
                db_path: str | Path | None = None, memory_limit: str = "4GB") -> Path:
    """(Re)build run_dir/stats.duckdb from the rounds' Parquet outputs; `thresholds`: round -> its threshold."""
    run_dir = Path(run_dir)
    db_path = Path(db_path or run_dir / "stats.duckdb")
    score_files = sorted(glob.glob(str(run_dir / "rounds" / "*" / "scores" / "*.parquet")))
    if not score_files:
        raise ConfigError(f"{run_dir}: no scored pages (rounds/*/scores/*.parquet): nothing to build statistics from")
    seed_files = sorted(glob.glob(str(run_dir / "rounds" / "*" / "seed_added.parquet")))
    tmp = db_path.with_name(f".{db_path.name}.tmp")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = connect(tmp)
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("CREATE TABLE round_thresholds (round INTEGER, threshold DOUBLE)")
        con.executemany("INSERT INTO round_thresholds VALUES (?, ?)", sorted(thresholds.items()))
        _build_pages(con, score_files)
        _build_domains(con, math_domain_threshold)
        _build_prefixes(con)
        _build_seed(con, seed_files)
        _build_rounds(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, db_path)
    return db_path


def refresh_seed(db_path: str | Path, run_dir: str | Path) -> None:
    """Reload seed_pages and rounds after a round's annotation wrote its seed_added.parquet (one transaction)."""
    seed_files = sorted(glob.glob(str(Path(run_dir) / "rounds" / "*" / "seed_added.parquet")))
    con = connect(db_path)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DROP TABLE seed_pages")
        con.execute("DROP TABLE rounds")
        _build_seed(con, seed_files)
        _build_rounds(con)
        con.execute("COMMIT")
    finally:
        con.close()


def _build_pages(con: duckdb.DuckDBPyConnection, score_files: list[str]) -> None:
    con.execute(f"""
        CREATE TABLE pages AS
        SELECT s.id, s.url, s.host, s.domain, s.path,
               coalesce(nullif(regexp_extract(s.path, '^/[^/]+/'), ''), '/') AS path_prefix,
               s.round, s.score, s.score >= t.threshold AS selected, s.tokens
        FROM read_parquet({parquet_list(score_files)}) s JOIN round_thresholds t USING (round)""")


def _build_domains(con: duckdb.DuckDBPyConnection, math_domain_threshold: float) -> None:
    con.execute("""
        CREATE TABLE domains AS
        WITH per_round AS (
            SELECT round, domain, count(*) AS pages, count(*) FILTER (WHERE selected) AS selected
            FROM pages GROUP BY round, domain),
        flagged AS (
            SELECT *, selected / pages AS selected_fraction, selected / pages > $threshold AS is_math FROM per_round)
        SELECT round, domain, pages, selected, selected_fraction,
               min(CASE WHEN is_math THEN round END) OVER (PARTITION BY domain ORDER BY round) AS first_round,
               is_math
        FROM flagged""", {"threshold": math_domain_threshold})


def _build_prefixes(con: duckdb.DuckDBPyConnection) -> None:
    """Prefixes of depth 1 and 2 that are directories (more path follows): what a person annotates."""
    con.execute("""
        CREATE TABLE path_prefixes AS
        WITH prefixed AS (
            SELECT round, domain, selected, path_prefix AS prefix, 1 AS depth FROM pages WHERE path_prefix <> '/'
            UNION ALL
            SELECT round, domain, selected, regexp_extract(path, '^/[^/]+/[^/]+/') AS prefix, 2 AS depth
            FROM pages WHERE regexp_matches(path, '^/[^/]+/[^/]+/'))
        SELECT round, domain, prefix, depth, count(*) AS pages, count(*) FILTER (WHERE selected) AS selected,
               count(*) FILTER (WHERE selected) / count(*) AS fraction
        FROM prefixed GROUP BY round, domain, prefix, depth""")


def _build_seed(con: duckdb.DuckDBPyConnection, seed_files: list[str]) -> None:
    if seed_files:
        con.execute(f"CREATE TABLE seed_pages AS SELECT * FROM read_parquet({parquet_list(seed_files)}) "
                    "WHERE round IN (SELECT round FROM round_thresholds)")  # not a later round's, on a rebuild
    else:
        con.execute("CREATE TABLE seed_pages (id VARCHAR, url VARCHAR, domain VARCHAR, pattern VARCHAR, "
                    "reason VARCHAR, round INTEGER)")


def _build_rounds(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE rounds AS
        WITH sel AS (
            SELECT round, count(*) AS pages, count(*) FILTER (WHERE selected) AS selected_pages,
                   coalesce(sum(tokens) FILTER (WHERE selected), 0) AS selected_tokens
            FROM pages GROUP BY round),
        doms AS (
            SELECT round, count(*) FILTER (WHERE is_math) AS math_domains,
                   count(*) FILTER (WHERE is_math AND first_round = round) AS new_math_domains
            FROM domains GROUP BY round),
        seeds AS (SELECT round, count(*) AS new_seed_pages FROM seed_pages GROUP BY round),
        overlap AS (
            SELECT cur.round, count(*) AS kept_before
            FROM pages cur JOIN pages prev ON prev.id = cur.id AND prev.round = cur.round - 1
            WHERE cur.selected AND prev.selected GROUP BY cur.round)
        SELECT sel.round, t.threshold, sel.pages, sel.selected_pages, sel.selected_tokens, doms.math_domains,
               doms.new_math_domains, coalesce(seeds.new_seed_pages, 0) AS new_seed_pages,
               CASE WHEN sel.round = (SELECT min(round) FROM pages) OR sel.selected_pages = 0 THEN NULL
                    ELSE coalesce(overlap.kept_before, 0) / sel.selected_pages END AS overlap_prev
        FROM sel JOIN round_thresholds t USING (round) JOIN doms USING (round)
        LEFT JOIN seeds USING (round) LEFT JOIN overlap USING (round)
        ORDER BY sel.round""")


def query(con: duckdb.DuckDBPyConnection, name: str, **params) -> tuple[list[str], list[tuple]]:
    """Run one documented query; returns (column names, rows)."""
    sql = QUERIES[name]
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    rel = con.execute(sql, used)
    return [d[0] for d in rel.description], rel.fetchall()


def export_round_tables(db_path: str | Path, round_no: int, out_dir: str | Path) -> None:
    """rounds/<k>/domains.parquet and path_prefixes.parquet: the round's domain tables, for inspection."""
    from mathforge.io import atomic_path

    con = connect(db_path, read_only=True)
    try:
        for table in ("domains", "path_prefixes"):
            with atomic_path(Path(out_dir) / f"{table}.parquet") as tmp:
                con.execute(f"COPY (SELECT * FROM {table} WHERE round = $round ORDER BY ALL) "
                            f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)", {"round": round_no})
    finally:
        con.close()


def open_run_stats(run_dir: str | Path, round_no: int = 0) -> tuple[duckdb.DuckDBPyConnection, int]:
    """A read-only connection to RUN_DIR/stats.duckdb and the round asked for (0: the last one)."""
    db = Path(run_dir) / "stats.duckdb"
    if not db.is_file():
        raise ConfigError(f"{db}: no statistics here (they are written by `mathforge corpus recall`)")
    con = connect(db, read_only=True)
    rounds = [r[0] for r in con.execute("SELECT round FROM rounds ORDER BY round").fetchall()]
    if round_no == 0 and rounds:
        round_no = rounds[-1]
    if round_no not in rounds:
        raise ConfigError(f"{db}: no round {round_no} (rounds: {', '.join(map(str, rounds)) or 'none'})")
    return con, round_no


def format_table(cols: list[str], rows: list[tuple]) -> str:
    cells = [[str(c) for c in cols]] + [["–" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
                     for row in cells)


def print_domains(con: duckdb.DuckDBPyConnection, round_no: int, domain: str = "", top: int = 20) -> None:
    """`mathforge corpus domains`: per-round growth, the round's top math domains, a domain's path prefixes."""
    print("per-round growth\n" + format_table(*query(con, "growth")))
    print(f"\nmath domains in round {round_no} (top {top} by selected pages)\n"
          + format_table(*query(con, "math_domains", round=round_no, top=top)))
    if domain:
        known = con.execute("SELECT count(*) FROM domains WHERE round = $r AND domain = $d",
                            {"r": round_no, "d": domain}).fetchall()[0][0]
        if not known:
            raise ConfigError(f"--domain {domain!r}: unknown domain: no page of it in round {round_no} "
                              "(domains are registered domains, as listed above)")
        print(f"\npath prefixes of {domain} in round {round_no}, by selected fraction\n"
              + format_table(*query(con, "prefixes", round=round_no, domain=domain, top=top)))
