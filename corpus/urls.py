"""URL parts the domain statistics group by: host, registered domain (public-suffix list, offline) and path.

The public-suffix list is tldextract's bundled snapshot (installed with datatrove): never fetched at run
time. Private suffixes count as suffixes (`someone.github.io`, `blog.wordpress.com` are domains of their
own), which is what "a domain is the set of pages sharing a base URL" needs for hosted blogs.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit


@lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # suffix_list_urls=() and no cache dir: the snapshot shipped inside the package, no network, no disk cache
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def url_parts(url: str) -> tuple[str, str, str]:
    """(host, registered domain, path) of a URL; an IP address or a bare host is its own domain.

    `https://math.stackexchange.com/questions/1?x` -> ("math.stackexchange.com", "stackexchange.com",
    "/questions/1"). A URL that does not parse gives ("", "", "").
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return "", "", ""
    if not host:
        return "", "", ""
    ext = _extractor()(host)
    domain = ext.top_domain_under_public_suffix or host
    return host, domain, parts.path or "/"
