"""Reader edge cases on a real WARC (Wget capture of archive.org, shared/data/web/webarchive-discovery):
uncompressed .warc and .arc files, a gzip member that ends before its Content-Length, a URL that
`urlsplit` rejects. Each broken record is skipped and counted; the records after it are still read."""

from __future__ import annotations

import gzip
import re

import pytest
from warcio.archiveiterator import ArchiveIterator

from corpus.read import WarcRecordReader

REAL_WARC = "webarchive-discovery/warc-indexer/src/test/resources/IAH-urls-wget.warc.gz"


def read(folder, pattern):
    reader = WarcRecordReader(str(folder), glob_pattern=pattern)
    docs = list(reader.run())
    return docs, {k: v.total for k, v in reader.stats.stats.items() if k.startswith("skipped_")}


@pytest.fixture(scope="module")
def real_warc(web_dir):
    return web_dir / REAL_WARC


@pytest.fixture(scope="module")
def members(real_warc) -> list[bytes]:
    """The real file's gzip members, one per record."""
    raw = real_warc.read_bytes()
    out = []
    with open(real_warc, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            record.content_stream().read()
            out.append(raw[it.get_record_offset():it.get_record_offset() + it.get_record_length()])
    assert b"".join(out) == raw
    return out


@pytest.fixture(scope="module")
def baseline(real_warc):
    docs, skipped = read(real_warc.parent, real_warc.name)
    assert len(docs) == 2 and "skipped_truncated_gzip" not in skipped
    return docs, skipped


def html_member_indexes(members) -> list[int]:
    return [i for i, m in enumerate(members) if b"WARC-Type: response" in gzip.decompress(m)
            and b"Content-Type: text/html" in gzip.decompress(m) and b" 200 " in gzip.decompress(m)[:2000]]


def test_uncompressed_warc_reads_like_the_gzipped_one(real_warc, baseline, tmp_path):
    (tmp_path / "plain.warc").write_bytes(gzip.decompress(real_warc.read_bytes()))
    docs, skipped = read(tmp_path, "*.warc")
    assert skipped == baseline[1]  # no spurious truncated_gzip
    assert [(d.metadata["url"], d.text) for d in docs] == [(d.metadata["url"], d.text) for d in baseline[0]]


def test_arc_file(real_warc, baseline, tmp_path):
    """An ARC v1 file holding the real file's HTML responses (ARC has no gzip here and no record ids)."""
    version = b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    arc = b"filedesc://test.arc 0.0.0.0 20131021000000 text/plain %d\n" % len(version) + version + b"\n"
    with open(real_warc, "rb") as fh:
        for r in ArchiveIterator(fh):
            if r.rec_type == "response" and r.http_headers.get_statuscode() == "200":
                raw = r.http_headers.to_bytes() + r.content_stream().read()
                uri = r.rec_headers.get_header("WARC-Target-URI")
                arc += f"{uri} 127.0.0.1 20131021000000 text/html {len(raw)}\n".encode() + raw + b"\n"
    (tmp_path / "x.arc").write_bytes(arc)
    docs, skipped = read(tmp_path, "*.arc")
    assert skipped["skipped_non_http"] == 1 and "skipped_truncated_gzip" not in skipped  # the filedesc record
    assert [(d.metadata["url"], d.text) for d in docs] == [(d.metadata["url"], d.text) for d in baseline[0]]
    assert all(d.metadata["date"] == "20131021000000" and d.id for d in docs)


def test_gzip_member_shorter_than_its_content_length(members, baseline, tmp_path):
    first = html_member_indexes(members)[0]
    record = gzip.decompress(members[first])
    length = int(re.search(rb"Content-Length: (\d+)", record).group(1))
    cut = record.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + 5000), 1)
    broken = members[:first] + [gzip.compress(cut)] + members[first + 1:]
    (tmp_path / "short.warc.gz").write_bytes(b"".join(broken))
    docs, skipped = read(tmp_path, "*.warc.gz")
    assert skipped["skipped_truncated_record"] == 1 and "skipped_truncated_gzip" not in skipped
    assert [d.text for d in docs] == [d.text for d in baseline[0]][1:]  # the other page is still read


def test_url_that_urlsplit_rejects_skips_one_record(members, baseline, tmp_path):
    first = html_member_indexes(members)[0]
    record = gzip.decompress(members[first])
    bad = re.sub(rb"WARC-Target-URI: \S+", b"WARC-Target-URI: http://[broken-ipv6/page", record, count=1)
    (tmp_path / "badurl.warc.gz").write_bytes(b"".join(members[:first] + [gzip.compress(bad)] + members[first + 1:]))
    docs, skipped = read(tmp_path, "*.warc.gz")
    assert skipped["skipped_bad_url"] == 1 and "skipped_truncated_gzip" not in skipped
    assert [d.text for d in docs] == [d.text for d in baseline[0]][1:]


def test_truncated_last_member_still_counted(members, baseline, tmp_path):
    last = gzip.compress(gzip.decompress(members[html_member_indexes(members)[-1]]))
    (tmp_path / "cut.warc.gz").write_bytes(b"".join(members) + last[: len(last) // 2])
    docs, skipped = read(tmp_path, "*.warc.gz")
    assert skipped.get("skipped_truncated_gzip", 0) + skipped.get("skipped_truncated_record", 0) == 1, skipped
    assert len(docs) == len(baseline[0])
