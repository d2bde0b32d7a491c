"""`mathforge corpus make-sample`: a deterministic, seeded sample crawl as WARC.gz shards, with known truth.

Page text: with `sample.text_root` (a folder laid out like shared/data) the pages are built from
real text (corpus.real_sources, corpus.sample_real): real MATH / GSM8K / Ape210K problems with their
solutions, every formula rendered in one of REAL_MARKUPS, on math sites (MATH_SITES, ZH_MATH_SITES);
WikiText-2 sections and paragraphs of real non-math pages (some pages verbatim) on news/shop/forum
and wiki sites. Without it (fresh clone, CI) the generated template text of corpus.sample_pages is
used and the log says so. Either way `truth/` says, per URL, whether the page is math, its kind,
language, markup, and formulas as LaTeX; URLs are drawn from the site templates below, so a math
page's domain and path are recognisable (math.stackexchange.com/questions/..., forum.X.com/t/mathematics/...).

Writes, under `output_dir`:
  crawl/shard-NNNNN.warc.gz   HTTP response records (plus broken records when `faults`)
  seed/seed.parquet           "OpenWebMath-like" positives: url, text (disjoint from the crawl)
  truth/shard-NNNNN.parquet   url, is_math, kind, lang, markup, n_formulas, formulas (JSON list), text
  benchmark/sample_bench.jsonl  the benchmark problems some crawl pages quote (for decontamination)

Each shard draws from its own `Random(seed, shard)` stream, so shards are independent and
identical across runs; pages are generated and written one at a time (1M pages stream in
constant memory).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpus.config import SampleConfig
from corpus.real_sources import RealText, load_real_text
from corpus.sample_pages import CONTAMINATION_PROBLEMS, MARKUPS, TOPIC_EN, Page, math_page, topic_page
from corpus.sample_real import REAL_MARKUPS, prose_page, real_math_page
from corpus.sample_recall import recall_page
from mathforge.io import atomic_path, atomic_write_text
from mathforge.log import get_logger, progress

log = get_logger(__name__)

MATH_SITES = [  # (domain, path template); {i} a number, {s} a slug
    ("mathoverflow.net", "/questions/{i}/{s}"),
    ("math.stackexchange.com", "/questions/{i}/{s}"),
    ("artofproblemsolving.com", "/wiki/index.php/{s}_{i}"),
    ("www.math.{u}.edu", "/~prof{i}/teaching/lecture{i}.html"),
    ("{u}mathblog.wordpress.com", "/2023/{m}/{s}/"),
    ("forum.{u}.com", "/t/mathematics/{i}"),  # a mixed domain: only /t/mathematics/ is math
]
ZH_MATH_SITES = [("www.zhihu.com", "/question/{i}"), ("math.{u}.cn", "/tiku/{i}.html")]
TOPIC_SITES = {
    "news": ("www.{u}news.com", "/{y}/{m}/{s}"), "recipe": ("{u}recipes.com", "/recipe/{s}-{i}"),
    "sport": ("sports.{u}.com", "/football/{s}"), "shop": ("shop.{u}.com", "/product/{i}"),
    "forum": ("forum.{u}.com", "/t/cars/{i}"),
}
WIKI_SITE = ("en.{u}pedia.org", "/wiki/{s}")
SYLLABLES = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "ba", "zu", "po"]
WARC_DATE = "2024-02-01T00:00:00Z"


def _name(rng: random.Random, n: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(n))


def _url(rng: random.Random, site: tuple[str, str]) -> str:
    domain, path = site
    fill = {"i": rng.randint(1, 10**7), "s": _name(rng, 4), "u": _name(rng, 2), "m": f"{rng.randint(1, 12):02d}",
            "y": rng.randint(2015, 2024)}
    return "https://" + domain.format(**fill) + path.format(**fill)


def near_duplicate(rng: random.Random, src: Page) -> Page:
    tail = f" (updated {rng.randint(1, 28)} March)"
    return Page(src.url + f"?ref={rng.randint(1, 999)}", src.kind, src.is_math, src.lang, src.markup,
                src.html.replace("</article>", f"<p>{tail}</p></article>"), src.text + "\n" + tail.strip(),
                src.formulas)


def generate_page(rng: random.Random, cfg: SampleConfig, recent: list[Page], real: RealText | None = None) -> Page:
    """Draw one page: math (any markup, EN or ZH), non-math, boilerplate-heavy, or a near-duplicate."""
    if recent and rng.random() < cfg.near_duplicate_fraction:
        return near_duplicate(rng, rng.choice(recent))
    if cfg.recall_fraction and rng.random() < cfg.recall_fraction:  # math the first classifier misses
        return recall_page(rng, real)
    if real is not None:
        return real_text_page(rng, cfg, real)
    zh = rng.random() < cfg.zh_fraction
    if rng.random() < cfg.math_fraction:
        if zh:
            markup = rng.choice([m for m in MARKUPS if m != "none"])
            return math_page(rng, _url(rng, rng.choice(ZH_MATH_SITES)), "zh", markup)
        markup = rng.choice(MARKUPS)
        return math_page(rng, _url(rng, rng.choice(MATH_SITES)), "en", markup,
                         contaminate=rng.random() < cfg.contaminated_fraction / cfg.math_fraction)
    if rng.random() < 0.08:
        topic = rng.choice(list(TOPIC_EN))
        return topic_page(rng, _url(rng, TOPIC_SITES[topic]), "zh" if zh else "en", topic, boilerplate_heavy=True)
    topic = rng.choice(["news", "recipe", "sport"] if zh else list(TOPIC_EN))
    return topic_page(rng, _url(rng, TOPIC_SITES[topic]), "zh" if zh else "en", topic)


def real_text_page(rng: random.Random, cfg: SampleConfig, real: RealText) -> Page:
    """A page from real text: a real problem + solution (math_fraction of pages), else real prose."""
    zh = rng.random() < cfg.zh_fraction
    if rng.random() < cfg.math_fraction:
        item = rng.choice(real.zh_math if zh else real.en_math)
        extra = ""
        if not zh and rng.random() < cfg.contaminated_fraction / cfg.math_fraction:
            extra = rng.choice(CONTAMINATION_PROBLEMS[:3])[1]
        site = rng.choice(ZH_MATH_SITES if zh else MATH_SITES)
        return real_math_page(rng, _url(rng, site), item, rng.choice(REAL_MARKUPS), extra)
    roll = rng.random()
    if zh or roll < 0.45:
        pages = real.zh_pages if zh and real.zh_pages else real.web_pages
        lang, page_html, paras = rng.choice(pages)
        url = _url(rng, TOPIC_SITES[rng.choice(list(TOPIC_SITES))])
        if roll < 0.05:  # a real page as it was saved
            return Page(url, "web", False, lang, "none", page_html, "\n".join(paras))
        start = rng.randrange(len(paras))
        chunk = paras[start:start + rng.randint(3, 8)]
        return prose_page(rng, url, "web", lang, chunk[0][:80], chunk[1:] or chunk)
    title, paras = rng.choice(real.wiki)
    if roll < 0.52:
        return prose_page(rng, _url(rng, TOPIC_SITES[rng.choice(list(TOPIC_SITES))]), "wiki", "en", title, paras[:1],
                          boilerplate_heavy=True)
    return prose_page(rng, _url(rng, WIKI_SITE), "wiki", "en", title, paras[:8])


def _record_id(shard: int, n: int) -> str:
    return f"<urn:uuid:00000000-0000-4000-8000-{shard:04d}{n:08d}>"


def _write_response(writer: WARCWriter, uri: str, rid: str, body: bytes, content_type: str, status: str = "200 OK",
                    payload_type: str | None = "text/html") -> None:
    http = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")
    headers = {"WARC-Record-ID": rid, "WARC-Date": WARC_DATE}
    if payload_type:
        headers["WARC-Identified-Payload-Type"] = payload_type
    rec = writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http,
                                    warc_headers_dict=headers)
    writer.write_record(rec)


def _write_faults(writer: WARCWriter, rng: random.Random, shard: int, cfg: SampleConfig, start: int) -> int:
    """Broken records every reader must survive; returns how many were written."""
    n = start
    info = writer.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: mathforge sample\r\n"),
                                     warc_content_type="application/warc-fields",
                                     warc_headers_dict={"WARC-Record-ID": _record_id(shard, 10**7), "WARC-Date": WARC_DATE})
    writer.write_record(info)  # non-HTTP record
    req = writer.create_warc_record("https://example.com/", "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
                                    warc_headers_dict={"WARC-Record-ID": _record_id(shard, n), "WARC-Date": WARC_DATE})
    writer.write_record(req)
    n += 1
    _write_response(writer, f"https://bin.example.com/{shard}/blob", _record_id(shard, n),
                    bytes(rng.randrange(256) for _ in range(4096)), "text/html; charset=utf-8")  # binary body
    n += 1
    gbk = "<html><body><p>已知函数的最小值，求参数的取值范围。这是一个编码声明错误的页面。</p></body></html>" * 5
    _write_response(writer, f"https://gbk.example.cn/{shard}/page", _record_id(shard, n), gbk.encode("gbk"),
                    "text/html; charset=utf-8")  # mis-declared encoding (really GBK)
    n += 1
    _write_response(writer, f"https://empty.example.com/{shard}/", _record_id(shard, n), b"", "text/html")
    n += 1
    _write_response(writer, f"https://gone.example.com/{shard}/404", _record_id(shard, n), b"<html>Not found</html>",
                    "text/html", status="404 Not Found")
    n += 1
    if shard == 0 and cfg.huge_page_bytes > 0:
        body = b"<html><body>" + b"<p>spam spam spam</p>" * (cfg.huge_page_bytes // 20) + b"</body></html>"
        _write_response(writer, "https://huge.example.com/page", _record_id(shard, n), body, "text/html")
        n += 1
    return n - start


TRUTH_SCHEMA = pa.schema([("url", pa.string()), ("is_math", pa.bool_()), ("kind", pa.string()), ("lang", pa.string()),
                          ("markup", pa.string()), ("n_formulas", pa.int32()), ("formulas", pa.string()),
                          ("text", pa.string())])


def real_text(cfg: SampleConfig) -> RealText | None:
    """The real text under `cfg.text_root`, or None (generated template text) when unset or absent."""
    return load_real_text(str(cfg.text_root)) if cfg.text_root else None


def write_shard(cfg: SampleConfig, shard: int, pages: int) -> int:
    """crawl/shard-N.warc.gz with `pages` content pages (+ broken records; the last shard ends truncated)
    and truth/shard-N.parquet; returns the number of math pages."""
    out = Path(cfg.output_dir)
    real = real_text(cfg)
    rng = random.Random(f"{cfg.seed}/{shard}")
    truth: list[dict] = []
    recent: list[Page] = []
    with atomic_path(out / "crawl" / f"shard-{shard:05d}.warc.gz") as tmp:
        with open(tmp, "wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            n = 0
            fault_at = pages // 2 if cfg.faults else -1
            for i in range(pages):
                if i == fault_at:
                    n += _write_faults(writer, rng, shard, cfg, n)
                page = generate_page(rng, cfg, recent, real)
                recent = (recent + [page])[-20:]
                _write_response(writer, page.url, _record_id(shard, n), page.html.encode("utf-8"),
                                "text/html; charset=utf-8")
                n += 1
                truth.append({"url": page.url, "is_math": page.is_math, "kind": page.kind, "lang": page.lang,
                              "markup": page.markup, "n_formulas": len(page.formulas),
                              "formulas": json.dumps(page.formulas, ensure_ascii=False), "text": page.text})
            if cfg.faults and shard == cfg.shards - 1:
                # a record cut mid-stream: a truncated gzip member at the end of the file
                tail = io.BytesIO()
                _write_response(WARCWriter(tail, gzip=True), "https://cut.example.com/", _record_id(shard, n),
                                b"<html><body>" + b"x" * 5000 + b"</body></html>", "text/html")
                fh.write(tail.getvalue()[: len(tail.getvalue()) // 2])
    with atomic_path(out / "truth" / f"shard-{shard:05d}.parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(truth, schema=TRUTH_SCHEMA), tmp, compression="zstd")
    return sum(r["is_math"] for r in truth)


def seed_rows(cfg: SampleConfig) -> Iterator[dict]:
    """"OpenWebMath-like" positives: clean math text (real seed items, disjoint from the crawl's, or
    generated), from a separate random stream."""
    rng = random.Random(f"{cfg.seed}/seed")
    real = real_text(cfg)
    pools = {zh: real.seed_items(zh) for zh in (False, True)} if real is not None else {}
    site = ("openwebmath.seed.org", "/doc/{i}")
    for _ in range(cfg.seed_pages):
        zh = rng.random() < cfg.zh_fraction
        if real is not None:
            item = rng.choice(pools[zh])
            page = real_math_page(rng, _url(rng, site), item, "dollar")
            yield {"url": page.url, "text": page.text}
            continue
        markup = rng.choice(MARKUPS)
        page = math_page(rng, _url(rng, site), "zh" if zh else "en", markup if not zh or markup != "none" else "dollar")
        yield {"url": page.url, "text": page.text}


def write_seed(cfg: SampleConfig, batch: int = 10_000) -> None:
    with atomic_path(Path(cfg.output_dir) / "seed" / "seed.parquet") as tmp:
        schema = pa.schema([("url", pa.string()), ("text", pa.string())])
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            rows: list[dict] = []
            for row in seed_rows(cfg):
                rows.append(row)
                if len(rows) == batch:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows = []
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def make_sample(cfg: SampleConfig) -> dict:
    """Write the whole sample (crawl, truth, seed, sample benchmark), shards in `cfg.workers` processes."""
    out = Path(cfg.output_dir)
    if cfg.text_root and real_text(cfg) is None:
        log.warning("sample.text_root=%s: no train/ + web/ data there; pages use generated template text", cfg.text_root)
    elif not cfg.text_root:
        log.info("sample.text_root is unset: pages use generated template text")
    per_shard = [cfg.pages // cfg.shards + (1 if s < cfg.pages % cfg.shards else 0) for s in range(cfg.shards)]
    jobs = [(cfg, shard, per_shard[shard]) for shard in range(cfg.shards)]
    if cfg.workers > 1:
        with multiprocessing.get_context("fork").Pool(cfg.workers) as pool:
            n_math = sum(progress(pool.starmap(write_shard, jobs), desc="sample shards", total=cfg.shards))
    else:
        n_math = sum(write_shard(*job) for job in progress(jobs, desc="sample shards", total=cfg.shards))
    write_seed(cfg)
    bench = "".join(json.dumps({"id": item, "question": q, "answer": a}, ensure_ascii=False) + "\n"
                    for item, q, a in CONTAMINATION_PROBLEMS)
    atomic_write_text(out / "benchmark" / "sample_bench.jsonl", bench)
    summary = {"pages": cfg.pages, "math_pages": n_math, "shards": cfg.shards, "seed_pages": cfg.seed_pages,
               "text": f"real ({cfg.text_root})" if real_text(cfg) else "generated templates", "output_dir": str(out)}
    atomic_write_text(out / "sample.json", json.dumps(summary, indent=2) + "\n")
    log.info("sample crawl: %s", summary)
    return summary
