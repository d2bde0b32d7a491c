"""The sample crawl is deterministic and covers every page kind; the reader survives every broken record."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from corpus.config import SampleConfig
from corpus.read import WarcRecordReader, decode_body
from corpus.sample_crawl import make_sample
from corpus.sample_pages import MARKUPS


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    cfg = SampleConfig(output_dir=out, pages=600, shards=2, seed=3, seed_pages=50)  # faults on, a real 50 MB page
    make_sample(cfg)
    return cfg


def test_deterministic(sample, tmp_path):
    again = SampleConfig(**{**sample.__dict__, "output_dir": tmp_path, "workers": 2})  # parallel == serial
    make_sample(again)
    for rel in ("crawl/shard-00000.warc.gz", "crawl/shard-00001.warc.gz", "truth/shard-00000.parquet",
                "truth/shard-00001.parquet", "seed/seed.parquet"):
        assert digest(sample.output_dir / rel) == digest(tmp_path / rel), rel


def test_truth_covers_page_kinds(sample):
    truth = pq.read_table(sample.output_dir / "truth").to_pylist()
    assert len(truth) == 600
    kinds = {r["kind"] for r in truth}
    assert {"math", "news", "recipe", "sport", "shop", "forum", "boilerplate"} <= kinds
    assert {r["markup"] for r in truth if r["is_math"]} == set(MARKUPS)
    assert {r["lang"] for r in truth} == {"en", "zh"}
    assert sum(r["is_math"] for r in truth) > 100
    assert any("?ref=" in r["url"] for r in truth), "near-duplicates"
    assert len({r["url"].split("/")[2] for r in truth}) > 100, "many domains"
    seed = pq.read_table(sample.output_dir / "seed" / "seed.parquet")
    assert seed.num_rows == 50 and not set(seed.column("url").to_pylist()) & {r["url"] for r in truth}


@pytest.mark.timeout(120)
def test_reader_skips_and_counts_broken_records(sample):
    reader = WarcRecordReader(str(sample.output_dir / "crawl"), glob_pattern="*.warc.gz", max_bytes=5_000_000)
    docs = list(reader.run())
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    assert stats["skipped_non_http"] == 4  # warcinfo + request, per shard
    assert stats["skipped_binary"] == 2
    assert stats["skipped_empty_body"] == 2
    assert stats["skipped_http_status"] == 2
    assert stats["skipped_too_large"] == 1  # the 50 MB page
    assert stats["skipped_truncated_gzip"] == 1  # the cut record at the end of the last shard
    assert stats["recovered_encoding"] == 2  # GBK bodies declared as UTF-8
    assert len(docs) == 600 + 2
    gbk = [d for d in docs if "gbk.example.cn" in d.metadata["url"]]
    assert len(gbk) == 2 and "已知函数的最小值" in gbk[0].text


def test_source_offset_points_at_the_record(sample):
    reader = WarcRecordReader(str(sample.output_dir / "crawl"), glob_pattern="shard-00001.warc.gz")
    docs = list(reader.run())
    for doc in docs[::97]:
        with open(doc.metadata["source_file"], "rb") as fh:
            fh.seek(doc.metadata["source_offset"])
            record = next(iter(ArchiveIterator(fh)))
            assert record.rec_headers.get_header("WARC-Record-ID") == doc.id


def test_decode_body():
    zh = "已知函数的最小值，求参数的取值范围。" * 4
    assert decode_body(zh.encode("gbk"), "utf-8") == (zh, "gb18030")
    fr = "Le café était très bon, où est la crème brûlée ? Une façade naïve, déjà vue." * 3
    text, enc = decode_body(fr.encode("latin-1"), "utf-8")
    assert "café" in text and "était" in text, (enc, text[:40])
    assert decode_body(b"caf\xc3\xa9", None) == ("café", "utf-8")
    assert decode_body(b"\x00\x01binary", "utf-8") == (None, "binary")


def test_wet_conversion_records(tmp_path):
    import io

    from warcio.warcwriter import WARCWriter

    path = tmp_path / "x.warc.wet.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for i, text in enumerate([b"Let \\(x^2\\) be a square.", b""]):
            w.write_record(w.create_warc_record(f"https://m.org/{i}", "conversion", payload=io.BytesIO(text),
                                                warc_content_type="text/plain"))
    reader = WarcRecordReader(str(tmp_path), glob_pattern="*.wet.gz")
    docs = list(reader.run())
    assert [d.text for d in docs] == ["Let \\(x^2\\) be a square."]
    assert docs[0].metadata["content_format"] == "text" and reader.stats["skipped_empty_body"].total == 1


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_html_inputs(tmp_path, fmt):
    import json

    import pyarrow as pa

    from corpus.config import ReadConfig
    from corpus.extract import MathExtractor
    from corpus.read import make_reader

    rows = [{"id": "a", "html": '<html><body><p>Let <script type="math/tex">x^2</script> be given.</p></body></html>'}]
    if fmt == "jsonl":
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    reader = make_reader(ReadConfig(input=str(tmp_path), glob=f"*.{fmt}", format=fmt, text_key="html"))
    docs = list(MathExtractor().run(reader.run()))
    assert [d.text for d in docs] == ["Let $x^2$ be given."]


def test_remote_urls_read_like_local_paths(sample):
    """Common Crawl paths are fsspec URLs (s3://...); an in-memory fsspec filesystem stands in for S3 offline."""
    import fsspec

    memory = fsspec.filesystem("memory")
    for shard in sorted((sample.output_dir / "crawl").glob("*.warc.gz")):
        memory.pipe(f"/cc-test/crawl/{shard.name}", shard.read_bytes())
    try:
        local = list(WarcRecordReader(str(sample.output_dir / "crawl"), glob_pattern="*.warc.gz").run())
        remote = list(WarcRecordReader("memory://cc-test/crawl", glob_pattern="*.warc.gz").run())
    finally:
        memory.rm("/cc-test", recursive=True)
    assert len(remote) == len(local) > 0
    assert [(d.id, d.text, d.metadata["source_offset"]) for d in remote] == [
        (d.id, d.text, d.metadata["source_offset"]) for d in local]
    assert {d.metadata["source_file"].rsplit("/", 1)[0] for d in remote} == {"memory:///cc-test/crawl"}


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("real_sample")
    cfg = SampleConfig(output_dir=out, pages=500, shards=2, seed=5, seed_pages=80, text_root=str(shared_data),
                       huge_page_bytes=0)
    make_sample(cfg)
    return cfg


def test_real_text_sample_truth(real_sample):
    """Pages from real problems and real prose; seed items never appear in the crawl; parallel == serial."""
    from corpus.sample_real import REAL_MARKUPS

    truth = pq.read_table(real_sample.output_dir / "truth").to_pylist()
    assert len(truth) == 500
    assert {r["kind"] for r in truth} == {"math", "wiki", "web", "boilerplate"}
    assert {r["markup"] for r in truth if r["is_math"]} == {*REAL_MARKUPS, "none"}  # GSM8K pages carry no formulas
    assert {"en", "zh"} <= {r["lang"] for r in truth} and len({r["lang"] for r in truth}) > 4
    math = [r for r in truth if r["is_math"]]
    assert 0.2 < len(math) / len(truth) < 0.4 and sum(r["n_formulas"] for r in math) > 300
    seed = pq.read_table(real_sample.output_dir / "seed" / "seed.parquet").column("text").to_pylist()
    crawl_text = "\n".join(r["text"] for r in math)
    assert len(seed) == 80 and not [s for s in seed if s.split("\n", 1)[1][:200] in crawl_text]


def test_real_text_sample_is_deterministic(real_sample, tmp_path):
    again = SampleConfig(**{**real_sample.__dict__, "output_dir": tmp_path, "workers": 2})
    make_sample(again)
    for rel in ("crawl/shard-00000.warc.gz", "crawl/shard-00001.warc.gz", "seed/seed.parquet"):
        assert digest(real_sample.output_dir / rel) == digest(tmp_path / rel), rel


def test_missing_text_root_falls_back_to_templates(tmp_path, caplog):
    cfg = SampleConfig(output_dir=tmp_path, pages=20, shards=1, seed_pages=10, text_root=str(tmp_path / "absent"),
                       faults=False)
    with caplog.at_level("WARNING"):
        summary = make_sample(cfg)
    assert summary["text"] == "generated templates"
    assert "generated template text" in caplog.text and str(tmp_path / "absent") in caplog.text
