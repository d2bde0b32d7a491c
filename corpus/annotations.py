"""The URL annotation file: a person marks, inside math domains, the URL paths that hold math.

Format (TOML; one table per registered domain, as `mathforge corpus domains` names them):

    ["stackexchange.com"]
    paths = ["/questions/", "math.stackexchange.com/tags/*"]
    note = "Q&A: every question page is math"       # optional

A pattern starting with "/" matches the URL path on any host of the domain; any other pattern
matches host + path. Patterns are globs (`*`, `?`, `[...]`); one without a glob character is a
prefix ("/questions/" = "/questions/*"). Each round applies the file to the domains that were math
in that round or before: their pages that match and were not selected join the seed, with the
pattern recorded (corpus.recall). `mathforge corpus annotate RUN_DIR` writes a starter file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from mathforge.config import ConfigError
from mathforge.io import atomic_write_text

GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class UrlAnnotation:
    domain: str
    pattern: str  # as written in the file
    glob: str  # the GLOB it matches with (prefixes get a trailing *)
    on_path: bool  # True: matches the path; False: matches host + path
    note: str = ""


def load_annotations(path: str | Path) -> list[UrlAnnotation]:
    """Parse and validate the file; every problem is a one-line ConfigError naming the file and entry."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: annotation file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {str(exc).splitlines()[0]}") from exc
    out: list[UrlAnnotation] = []
    for domain, entry in raw.items():
        where = f"{path}: [{domain!r}]"
        if not domain or domain != domain.strip().lower() or "/" in domain or " " in domain:
            raise ConfigError(f"{where}: a domain is a lower-case registered domain such as 'stackexchange.com'")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table with 'paths' (and an optional 'note')")
        unknown = sorted(set(entry) - {"paths", "note"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: note, paths)")
        paths, note = entry.get("paths"), entry.get("note", "")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ConfigError(f"{where}: 'paths' must be a non-empty list of strings")
        if not isinstance(note, str):
            raise ConfigError(f"{where}: 'note' must be a string")
        out += [_pattern(where, domain, p, note) for p in paths]
    return out


def _pattern(where: str, domain: str, pattern: str, note: str) -> UrlAnnotation:
    if not pattern or any(c.isspace() for c in pattern):
        raise ConfigError(f"{where}: pattern {pattern!r} is empty or has spaces")
    on_path = pattern.startswith("/")
    if not on_path:
        host = pattern.split("/", 1)[0]
        if "/" not in pattern or not (host == domain or host.endswith("." + domain)):
            raise ConfigError(f"{where}: pattern {pattern!r} must start with '/' (a path) or with a host of "
                              f"{domain} followed by a path")
    glob = pattern if GLOB_CHARS & set(pattern) else pattern + "*"
    return UrlAnnotation(domain, pattern, glob, on_path, note)


def check_domains(annotations: list[UrlAnnotation], con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """An annotated domain with no page in the crawl is a typo or a wrong file: a one-line error."""
    domains = sorted({a.domain for a in annotations})
    if not domains:
        return
    known = {r[0] for r in con.execute("SELECT DISTINCT domain FROM pages WHERE domain IN (SELECT unnest($d))",
                                       {"d": domains}).fetchall()}
    missing = [d for d in domains if d not in known]
    if missing:
        raise ConfigError(f"{path}: [{missing[0]!r}]: unknown domain: no page of it in the crawl "
                          f"(domains are registered domains, as `mathforge corpus domains` lists them)")


def matching_unselected(con: duckdb.DuckDBPyConnection, annotations: list[UrlAnnotation], round_no: int) -> pa.Table:
    """Pages of round `round_no` in a math domain (this round or before) that match an annotation, were not
    selected and are not in the seed yet: the new seed pages (corpus.stats.SEED_SCHEMA)."""
    from corpus.stats import SEED_SCHEMA

    rows = [(a.domain, a.glob, a.on_path, a.pattern, a.note) for a in annotations]
    con.execute("CREATE OR REPLACE TEMP TABLE annotation (domain VARCHAR, pattern_glob VARCHAR, on_path BOOLEAN, "
                "pattern VARCHAR, note VARCHAR)")
    if rows:
        con.executemany("INSERT INTO annotation VALUES (?, ?, ?, ?, ?)", rows)
    table = con.sql("""
        SELECT p.id, any_value(p.url) AS url, any_value(p.domain) AS domain, min(a.pattern) AS pattern,
               'annotation ' || any_value(p.domain) || ' ' || min(a.pattern) AS reason, $round::INTEGER AS round
        FROM pages p JOIN annotation a ON a.domain = p.domain
             AND (CASE WHEN a.on_path THEN p.path ELSE p.host || p.path END) GLOB a.pattern_glob
        WHERE p.round = $round AND NOT p.selected
          AND p.domain IN (SELECT domain FROM domains WHERE is_math AND round <= $round)
          AND p.id NOT IN (SELECT id FROM seed_pages)
        GROUP BY p.id ORDER BY p.id""", params={"round": round_no}).to_arrow_table()
    return table.cast(SEED_SCHEMA)


def write_starter(con: duckdb.DuckDBPyConnection, round_no: int, out: str | Path, top_domains: int = 50,
                  min_fraction: float = 0.2, min_pages: int = 5) -> int:
    """Write a starter annotation file from the statistics of `round_no`; returns how many domains it lists.

    Every math domain gets a table; its directory prefixes with selected fraction >= min_fraction are
    proposed as patterns, the others are listed as comments for the person to judge.
    """
    domains = con.execute("""
        SELECT domain, pages, selected_fraction, first_round FROM domains WHERE round = $round AND is_math
        ORDER BY selected DESC, domain LIMIT $top""", {"round": round_no, "top": top_domains}).fetchall()
    lines = [f"# URL annotation starter from round {round_no}'s statistics: the math domains and their path",
             "# prefixes by selected fraction. Keep the patterns that are math, delete or comment out the rest;",
             "# a pattern is a path prefix or glob ('/questions/') or host + path ('math.example.org/wiki/*').", ""]
    for domain, pages, fraction, first in domains:
        prefixes = con.execute("""
            SELECT prefix, depth, pages, fraction FROM path_prefixes
            WHERE round = $round AND domain = $domain AND pages >= $min_pages
            ORDER BY fraction DESC, pages DESC, prefix""",
                               {"round": round_no, "domain": domain, "min_pages": min_pages}).fetchall()
        block = [f'["{domain}"]', "paths = ["]
        for prefix, depth, n, frac in prefixes:
            mark = "" if frac >= min_fraction else "# "
            block.append(f'  {mark}"{prefix}",  # depth {depth}: {n} pages, {frac:.2f} selected')
        block += ["]", f'note = "math since round {first}: {pages} pages, {fraction:.2f} selected"']
        if not any(frac >= min_fraction for *_, frac in prefixes):  # nothing to propose: the person decides
            block = ["# " + line for line in block]
        lines += block + [""]
    atomic_write_text(out, "\n".join(lines))
    return len(domains)
