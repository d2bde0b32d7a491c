"""Reading Common Crawl WARC/WET shards into datatrove Documents, surviving every kind of broken record.

Why not datatrove's `WarcReader`: it needs cchardet + libmagic, stops the whole task on a truncated
gzip member, and drops bad records without saying why. This reader keeps its interface (a
`BaseDiskReader`: local paths, globs, s3:// through fsspec, sharding by rank) and counts each skip
under `skipped_<reason>` in the datatrove stats: non_http, http_status, non_html, empty_body, binary,
too_large, undecodable, bad_url (a target URI `urlsplit` rejects), truncated_record (a record whose
body ends before its Content-Length, e.g. a gzip member cut short), truncated_gzip (the file ends in
a broken gzip member or bytes that are not a record; reading stops there). Compressed (`.warc.gz`)
and uncompressed (`.warc`, `.arc`) files are read alike.
"""

from __future__ import annotations

import re
import zlib
from urllib.parse import urlsplit

from datatrove.io import DataFolderLike
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseDiskReader

from corpus.config import ReadConfig

CHARSET_RE = re.compile(rb"charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
HTML_TYPES = ("text/html", "application/xhtml+xml")
_BROKEN = object()  # _next_record's answer for a record that cannot be parsed


def domain_of(url: str) -> str:
    """Host of a URL, lower-cased, without a leading `www.` (the paper's "base URL"); raises ValueError
    for URLs `urlsplit` rejects (e.g. `http://[bad`)."""
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


def decode_body(body: bytes, declared: str | None) -> tuple[str | None, str]:
    """Bytes -> (text, how): declared charset first, then UTF-8, then charset detection (charset_normalizer;
    it tells GBK from Latin-1, where trying GB18030 blindly would turn Latin-1 into Chinese mojibake).

    Returns (None, "binary") for bodies with NUL bytes and (None, "undecodable") when nothing fits.
    """
    if b"\x00" in body[:4096]:
        return None, "binary"
    tried = []
    for enc in (declared, "utf-8"):
        if not enc or enc.lower() in tried:
            continue
        tried.append(enc.lower())
        try:
            return body.decode(enc), enc.lower()
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is None:
        return None, "undecodable"
    return str(best), best.encoding


def _read_capped(stream, max_bytes: int) -> bytes | None:
    """The whole stream, or None as soon as it passes `max_bytes` (a 50 MB page is never held whole)."""
    chunks, size = [], 0
    while chunk := stream.read(1 << 16):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class WarcRecordReader(BaseDiskReader):
    """WARC (`response` records with HTML) or WET (`conversion` records with text) -> Documents.

    Metadata: url, domain, date, source_file, source_offset (byte offset of the record in the file),
    content_format ("html" or "text"), encoding.
    """

    name = "🕷 mathforge WARC/WET"

    def __init__(self, data_folder: DataFolderLike, glob_pattern: str | None = None, max_bytes: int = 5_000_000,
                 limit: int = -1, **kwargs):
        super().__init__(data_folder, glob_pattern=glob_pattern, limit=limit, **kwargs)
        self.max_bytes = max_bytes

    def read_file(self, filepath: str):
        from warcio.archiveiterator import ArchiveIterator

        # compression=None: warcio reads the gzip members itself, so offsets are Common Crawl's (compressed)
        with self.data_folder.open(filepath, "rb", compression=None) as f:
            it = ArchiveIterator(f)
            end = 0
            while (record := self._next_record(it, filepath)) not in (None, _BROKEN):
                data = self._process(record, filepath)
                offset = it.get_record_offset()  # after the body was read (it reads to the record's end)
                end = offset + it.get_record_length()
                if data is None:
                    continue
                data["source_offset"] = offset
                doc = self.get_document_from_dict(data, filepath, offset)
                if doc is not None:
                    yield doc
            if record is None:
                self._check_tail(f, filepath, end)

    def _next_record(self, it, filepath: str):
        """The next record, None at the end of the file, _BROKEN at a record that cannot be parsed (counted)."""
        from warcio.exceptions import ArchiveLoadFailed

        try:
            return next(it, None)
        except (EOFError, OSError, zlib.error, ArchiveLoadFailed, ValueError) as exc:
            self.stat_update("skipped_truncated_gzip")
            self._log_truncation(filepath, exc)
            return _BROKEN

    def _check_tail(self, f, filepath: str, end: int) -> None:
        """warcio ends quietly at a gzip member cut short: bytes after the last whole record tell. An
        uncompressed file ends with the last record's CRLF CRLF, which its record length leaves out."""
        size = self.data_folder.size(filepath)
        if end >= size:
            return
        if size - end <= 64:
            f.seek(end)
            if not f.read().strip():
                return
        self.stat_update("skipped_truncated_gzip")
        self._log_truncation(filepath, EOFError(f"{size - end} trailing bytes"))

    def _log_truncation(self, filepath: str, exc: Exception) -> None:
        from datatrove.utils.logging import logger

        logger.warning(f"{filepath}: stopped reading at a broken/truncated record ({type(exc).__name__}: {exc})")

    def _skip(self, reason: str) -> None:
        self.stat_update(f"skipped_{reason}")

    def _process(self, record, filepath: str) -> dict | None:
        if record.rec_type == "conversion":
            fmt = "text"
        elif record.rec_type == "response" and record.http_headers is not None:
            fmt = "html"
        else:
            return self._skip("non_http")
        declared = None
        if fmt == "html":
            status = record.http_headers.get_statuscode()
            if status != "200":
                return self._skip("http_status")
            ctype = (record.http_headers.get_header("Content-Type") or "text/html").encode("latin-1", "replace")
            if not ctype.lower().startswith(tuple(t.encode() for t in HTML_TYPES)):
                return self._skip("non_html")
            m = CHARSET_RE.search(ctype)
            declared = m.group(1).decode() if m else None
        body = _read_capped(record.content_stream(), self.max_bytes)
        if body is None:
            return self._skip("too_large")
        if getattr(record.raw_stream, "limit", 0) > 0:  # the stream ended before the record's Content-Length
            return self._skip("truncated_record")
        if not body.strip():
            return self._skip("empty_body")
        text, encoding = decode_body(body, declared)
        if text is None:
            return self._skip(encoding)
        if declared and encoding != declared.lower():
            self.stat_update("recovered_encoding")
        headers = record.rec_headers  # WARC headers, or an ARC record's uri / archive-date fields
        url = headers.get_header("WARC-Target-URI") or headers.get_header("uri") or ""
        try:
            domain = domain_of(url)
        except ValueError:
            return self._skip("bad_url")
        data = {"text": text, "url": url, "domain": domain,
                "date": headers.get_header("WARC-Date") or headers.get_header("archive-date"),
                "source_file": self.data_folder.resolve_paths(filepath), "content_format": fmt, "encoding": encoding}
        if headers.get_header("WARC-Record-ID"):  # ARC records have none: datatrove names them <file>/<offset>
            data["id"] = headers.get_header("WARC-Record-ID")
        return data


def make_reader(cfg: ReadConfig):
    """The reader step for `cfg.format`: ours for WARC/WET, datatrove's for Parquet/JSONL (HTML in text_key)."""
    if cfg.format in ("warc", "wet"):
        return WarcRecordReader(cfg.input, glob_pattern=cfg.glob, max_bytes=cfg.max_html_bytes, limit=cfg.limit)
    cls = ParquetReader if cfg.format == "parquet" else JsonlReader
    return cls(cfg.input, glob_pattern=cfg.glob, text_key=cfg.text_key, limit=cfg.limit,
               default_metadata={"content_format": "html"})
