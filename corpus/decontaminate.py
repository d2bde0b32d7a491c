"""Benchmark decontamination with hashed n-grams of words, vectorised in numpy (no per-n-gram Python objects).

Public entry points (used by the corpus stage and by SFT data building):
  build_index(BenchmarkText items) -> NGramIndex;  find_contamination(texts, index) -> [Match]
  (which texts hold a benchmark n-gram, and which); NGramIndex.save / NGramIndex.load.

Why words: with every LaTeX symbol and digit a token, a 10-gram was ~20 characters
(`a^3-b^3=(a-b)(a^2+ab+b`, a list of odd numbers, a times table) and real math pages with a common
identity were removed. The paper matches 10-grams of text; so here a formula or a number run is
one bounded token, and a match must also span `min_chars` characters.

Normalisation rule (one rule for benchmark texts and documents; `bound_tokens` does steps 1-2,
`tokenize_batch` steps 3-4 vectorised):
  1. Unicode NFKC, then lower-case; \\(T\\) -> $T$ and \\[T\\] -> $$T$$.
  2. A formula, `$$T$$` or `$T$` (pandoc's rule: the opening `$` has a non-space on its right, the
     closing one a non-space on its left and no digit after it, so `$5 and $10` is no formula), becomes
     one token: `fx` + 12 letters from blake2b(T without whitespace, spacing commands, braces around a
     single character and trailing punctuation), the same for `$T$` and `$$T$$`.
  3. A number run, two or more consecutive all-digit tokens (only separators between them, or a lone
     `x`: `1, 3, 5, 7`, `3 × 4 = 12`, `3 x 4 = 12`, `1 2 … 10`), becomes one token named by its digit
     groups (written `nm1d3d5d7` by the reference); a single number stays a token of its own.
  4. Tokens: a maximal run of alphanumeric characters (`str.isalnum`) is one token; every CJK
     character (Han, kana, Hangul syllables: see CJK_RANGES) is a token on its own, since Chinese
     has no spaces; everything else (punctuation, whitespace) only separates tokens.
     So "Let $x^2$ be 1, 2, 3" -> [let, fx…, be, <1 2 3>]; "求函数" -> [求, 函, 数].
Matching rule:
  - a document is contaminated when it contains an n-gram (n = 10 tokens) of a benchmark text
    (question; answer; solution only when indexed) whose span in the normalised document is at
    least `min_chars` characters (a formula token counts 14, a CJK character CJK_CHAR_WIDTH);
  - a benchmark question of min_ngram..n-1 tokens is matched exactly: the document contains its
    whole token sequence, spanning at least `min_chars` // 2 characters. Shorter questions, and short
    answers, are not used on their own: they would remove most math pages.
Hashing: characters -> 64-bit polynomial hash per token (prefix sums with the modular inverse of an
odd base, so a whole batch is hashed with cumsum), mixed by splitmix64; tokens -> 64-bit
polynomial hash per n-gram the same way. A sorted index + searchsorted answers membership for all
n-grams of a batch of documents at once. A false match needs a 64-bit collision (~1e-19 per pair).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
              (0x20000, 0x2FFFF))
SEP, WORD, CJK = 0, 1, 2
CJK_CHAR_WIDTH = 6  # for min_chars, a CJK character counts like an English word with its space (numbers between them are short)
CHAR_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
TOKEN_BASE = np.uint64(0x9E3779B97F4A7C15)
RUN_BASE = np.uint64(0xD6E8FEB86659FD93)  # number runs: polynomial over their digit tokens' hashes
RUN_SALT = np.uint64(0x5851F42D4C957F2D)
_CLASS_TABLE: np.ndarray | None = None


FORMULA_RE = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?=\S)([^$]{0,2000}?\S)\$(?!\d)", re.S)
HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
TEX_SPACING_RE = re.compile(r"\s+|\\[,;:!](?![a-z])|\\(?:left|right)\b")  # whitespace, \, \; \: \! \left \right
SINGLE_BRACE_RE = re.compile(r"\{(\w)\}")  # x^{2} and x^2 are one formula


def normalize_text(text: str) -> str:
    """NFKC (a no-op on ASCII, so skipped there), then lower-case."""
    return (text if text.isascii() else unicodedata.normalize("NFKC", text)).lower()


def formula_token(tex: str) -> str:
    """`fx` + 12 letters (hex digits spelled a-p, so no number run forms inside) naming a formula by its
    TeX; whitespace, spacing commands, braces around one character and trailing punctuation ignored."""
    rows = tex.replace("\\\\", "\x01")  # `\\` (a new row) is not a spacing command, whatever space follows
    core = SINGLE_BRACE_RE.sub(r"\1", TEX_SPACING_RE.sub("", rows)).rstrip(".,;:?!")
    digest = hashlib.blake2b(core.encode(), digest_size=6).hexdigest()
    return " fx" + digest.translate(HEX_TO_LETTERS) + " "


def bound_tokens(text: str) -> str:
    """Steps 1-2 of the normalisation rule: the text with each formula as one word (number runs are
    merged later, on the tokens: `merge_number_runs`)."""
    from corpus.extract import normalize_delimiters

    text = normalize_delimiters(normalize_text(text))
    if "$" in text:
        text = FORMULA_RE.sub(lambda m: formula_token(m.group(1) if m.group(1) is not None else m.group(2)), text)
    return text


def merge_number_runs(hashes: np.ndarray, starts: np.ndarray, ends: np.ndarray, owner: np.ndarray,
                      codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 3 on the tokens: consecutive all-digit tokens of one text (with a lone `x` between two of
    them) become one token spanning them, hashed from their digit tokens in order; a single number
    stays as it is. Returns (hashes, starts, ends, owner) without the merged-away tokens."""
    m = len(starts)
    if m < 2:
        return hashes, starts, ends, owner
    is_digit = (codes >= 48) & (codes <= 57)
    digits_before = np.r_[0, np.cumsum(is_digit)]
    num = (digits_before[ends] - digits_before[starts]) == (ends - starts)
    same = owner[1:] == owner[:-1]
    is_x = (ends - starts == 1) & (codes[starts] == ord("x"))
    join = num.copy()
    join[1:-1] |= is_x[1:-1] & num[:-2] & num[2:] & same[:-1] & same[1:]
    cont = np.r_[False, join[1:] & join[:-1] & same & ~(is_x[1:] & is_x[:-1])]
    keep = ~cont
    run = np.cumsum(keep) - 1
    n_runs = int(run[-1]) + 1
    n_num = np.bincount(run, weights=num, minlength=n_runs)
    num_idx = np.cumsum(num) - 1  # index of each number token among all number tokens
    first_num = np.full(n_runs, -1, dtype=np.int64)
    first_num[run[num][::-1]] = num_idx[num][::-1]  # smallest index wins (written last)
    with np.errstate(over="ignore"):
        terms = hashes[num] * _powers(RUN_BASE, m)[num_idx[num] - first_num[run[num]]]
        combined = np.zeros(n_runs, dtype=np.uint64)
        np.add.at(combined, run[num], terms)
        combined = _mix(combined ^ RUN_SALT)
    kept = np.flatnonzero(keep)
    run_end = ends[np.r_[kept[1:], m] - 1]
    new_hashes = np.where(n_num >= 2, combined, hashes[kept])
    return new_hashes, starts[kept], np.where(n_num >= 2, run_end, ends[kept]), owner[kept]


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def char_class(ch: str) -> int:
    """SEP, WORD or CJK for one character (the tokenisation rule of the module docstring)."""
    if is_cjk(ch):
        return CJK
    return WORD if ch.isalnum() else SEP


def _class_table() -> np.ndarray:
    """char_class for every code point (1.1 MB, built once per process)."""
    global _CLASS_TABLE
    if _CLASS_TABLE is None:
        table = np.zeros(0x110000, dtype=np.uint8)
        alnum = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and chr(cp).isalnum()]
        table[alnum] = WORD
        for lo, hi in CJK_RANGES:
            table[lo:hi + 1] = CJK
        _CLASS_TABLE = table
    return _CLASS_TABLE


def _inverse(a: np.uint64) -> np.uint64:
    """Multiplicative inverse of an odd number modulo 2**64 (Newton iteration)."""
    a_int, x = int(a), int(a)
    for _ in range(6):
        x = (x * (2 - a_int * x)) % (1 << 64)
    return np.uint64(x)


_POWERS: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) modulo 2**64 (cached, grown by doubling)."""
    key = int(base)
    cached = _POWERS.get(key)
    if cached is None or len(cached) < n:
        size = max(n, 2 * len(cached) if cached is not None else 1 << 16)
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        with np.errstate(over="ignore"):
            cached = _POWERS[key] = np.cumprod(out, dtype=np.uint64)
    return cached[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _prefix(values: np.ndarray, base: np.uint64) -> np.ndarray:
    """P[i] = sum_{j<i} values[j] * base**-j mod 2**64 (P[0] = 0)."""
    with np.errstate(over="ignore"):
        prefix = np.empty(len(values) + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(values * _powers(_inverse(base), len(values)), dtype=np.uint64, out=prefix[1:])
    return prefix


def _span_hashes(prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray, base: np.uint64) -> np.ndarray:
    """hash(values[s:e]) = sum_j values[j] * base**(e-1-j) = (P[e] - P[s]) * base**(e-1) mod 2**64."""
    with np.errstate(over="ignore"):
        return (prefix[ends] - prefix[starts]) * _powers(base, len(prefix))[ends - 1]


@dataclass
class Tokens:
    """Tokens of a batch of texts joined by a separator: hashes, char spans and owning text."""

    hashes: np.ndarray  # uint64 per token
    starts: np.ndarray  # char offset in `joined`
    ends: np.ndarray
    owner: np.ndarray  # index of the text each token belongs to
    cjk: np.ndarray  # bool: the token is one CJK character
    joined: str
    _prefix: np.ndarray | None = None

    def prefix(self) -> np.ndarray:
        if self._prefix is None:
            self._prefix = _prefix(self.hashes, TOKEN_BASE)
        return self._prefix


def tokenize_batch(texts: Sequence[str]) -> Tokens:
    """Normalise and tokenise texts (one vectorised pass over their concatenation)."""
    normed = [bound_tokens(t) for t in texts]
    joined = "\n".join(normed)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = _class_table()[codes]
    word = cls == WORD
    prev_word = np.r_[False, word[:-1]]
    next_word = np.r_[word[1:], False]
    starts = np.flatnonzero((word & ~prev_word) | (cls == CJK))
    ends = np.flatnonzero((word & ~next_word) | (cls == CJK)) + 1
    with np.errstate(over="ignore"):
        hashes = _mix(_span_hashes(_prefix(codes.astype(np.uint64) + np.uint64(1), CHAR_BASE), starts, ends, CHAR_BASE))
    text_starts = np.cumsum([0] + [len(t) + 1 for t in normed[:-1]]) if normed else np.zeros(0, dtype=np.int64)
    owner = (np.searchsorted(text_starts, starts, side="right") - 1).astype(np.int64)
    hashes, starts, ends, owner = merge_number_runs(hashes, starts, ends, owner, codes)
    return Tokens(hashes, starts, ends, owner, cls[starts] == CJK, joined)


def ngram_hashes(tokens: Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, last token index) of every n-gram that lies inside one text."""
    m = len(tokens.hashes)
    if m < n:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    last = np.arange(n - 1, m)
    last = last[tokens.owner[last] == tokens.owner[last - n + 1]]
    hashes = _span_hashes(tokens.prefix(), last - n + 1, last + 1, TOKEN_BASE)
    return hashes, last


@dataclass
class BenchmarkText:
    benchmark: str
    item_id: str
    text: str
    exact: bool  # a question: matched exactly when it has 3..ngram-1 tokens


@dataclass
class NGramIndex:
    """Sorted n-gram hashes of benchmark texts, each with the (benchmark, item) it came from."""

    n: int
    hashes: np.ndarray  # sorted unique uint64, long (n-gram) entries
    item: np.ndarray  # int64 index into `items`, parallel to `hashes`
    exact: dict[int, tuple[np.ndarray, np.ndarray]]  # length L -> (sorted hashes, items) of short questions
    items: list[tuple[str, str]]
    min_chars: int = 0  # a match must span this many characters of the normalised document (exact: half)
    _presence: dict[int, np.ndarray] = field(default_factory=dict)

    def tables(self) -> list[tuple[int, np.ndarray, np.ndarray, str]]:
        """(n, sorted hashes, items, kind) for the n-gram table and each exact-length table."""
        out = [(self.n, self.hashes, self.item, "ngram")]
        return out + [(length, h, it, "exact") for length, (h, it) in sorted(self.exact.items())]

    def presence(self, n: int) -> np.ndarray:
        if n not in self._presence:
            self._presence[n] = _presence(self.hashes if n == self.n else self.exact[n][0])
        return self._presence[n]

    def save(self, path) -> None:
        arrays = {"hashes": self.hashes, "item": self.item, "n": np.array(self.n), "min_chars": np.array(self.min_chars),
                  "bench": np.array([b for b, _ in self.items], dtype=object),
                  "item_id": np.array([i for _, i in self.items], dtype=object)}
        for length, (h, it) in self.exact.items():
            arrays[f"exact_{length}_h"], arrays[f"exact_{length}_i"] = h, it
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path) -> NGramIndex:
        z = np.load(path, allow_pickle=True)
        exact = {int(k.split("_")[1]): (z[k], z[k[:-1] + "i"]) for k in z.files if k.startswith("exact_") and k.endswith("_h")}
        items = list(zip(z["bench"].tolist(), z["item_id"].tolist(), strict=True))
        return cls(int(z["n"]), z["hashes"], z["item"], exact, items, int(z["min_chars"]) if "min_chars" in z.files else 0)


def _sorted_unique(hashes: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(hashes, kind="stable")
    hashes, items = hashes[order], items[order]
    keep = np.r_[True, hashes[1:] != hashes[:-1]] if len(hashes) else np.zeros(0, dtype=bool)
    return hashes[keep], items[keep]


def build_index(texts: Iterable[BenchmarkText], n: int = 10, min_ngram: int = 3, batch: int = 4096,
                min_chars: int = 0) -> NGramIndex:
    """Index every n-gram of every benchmark text, and the whole token sequence of short questions."""
    items: list[tuple[str, str]] = []
    item_of: dict[tuple[str, str], int] = {}
    long_h, long_i, short = [], [], {}
    buf: list[BenchmarkText] = []

    def flush():
        toks = tokenize_batch([t.text for t in buf])
        ids = np.array([item_of[(t.benchmark, t.item_id)] for t in buf], dtype=np.int64)
        h, last = ngram_hashes(toks, n)
        long_h.append(h)
        long_i.append(ids[toks.owner[last]])
        counts = np.bincount(toks.owner, minlength=len(buf))
        first = np.r_[0, np.cumsum(counts)[:-1]]
        for j, t in enumerate(buf):
            if t.exact and min_ngram <= counts[j] < n:
                s = first[j]
                full = _span_hashes(toks.prefix(), np.array([s]), np.array([s + counts[j]]), TOKEN_BASE)
                short.setdefault(int(counts[j]), ([], []))
                short[int(counts[j])][0].append(full[0])
                short[int(counts[j])][1].append(ids[j])
        buf.clear()

    for t in texts:
        key = (t.benchmark, t.item_id)
        if key not in item_of:
            item_of[key] = len(items)
            items.append(key)
        buf.append(t)
        if len(buf) == batch:
            flush()
    if buf:
        flush()
    hashes, item = _sorted_unique(np.concatenate(long_h or [np.zeros(0, np.uint64)]),
                                  np.concatenate(long_i or [np.zeros(0, np.int64)]))
    exact = {length: _sorted_unique(np.array(h, dtype=np.uint64), np.array(i, dtype=np.int64))
             for length, (h, i) in short.items()}
    return NGramIndex(n, hashes, item, exact, items, min_chars)


@dataclass
class Match:
    doc: int  # index of the document in the batch
    item: int  # index into NGramIndex.items
    ngram: str  # the matched span of the normalised document
    kind: str  # "ngram" or "exact"


def _presence_bits(n_entries: int) -> int:
    """Bits of the presence table in front of a sorted index: 2**16 (cache-resident) for small tables,
    2**24 (16 MB) for large ones; most n-grams stop at this table and never reach searchsorted."""
    return 16 if n_entries < 4096 else 24


def _presence(sorted_hashes: np.ndarray) -> np.ndarray:
    bits = _presence_bits(len(sorted_hashes))
    table = np.zeros(1 << bits, dtype=bool)
    table[(sorted_hashes >> np.uint64(64 - bits)).astype(np.int64)] = True
    return table


def _lookup(sorted_hashes: np.ndarray, presence: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices into query that hit, their positions in sorted_hashes)."""
    if len(sorted_hashes) == 0 or len(query) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    shift = np.uint64(64 - (len(presence).bit_length() - 1))
    cand = np.flatnonzero(presence[(query >> shift).astype(np.int64)])
    pos = np.minimum(np.searchsorted(sorted_hashes, query[cand]), len(sorted_hashes) - 1)
    hit = sorted_hashes[pos] == query[cand]
    return cand[hit], pos[hit]


def span_widths(toks: Tokens, last: np.ndarray, n: int) -> np.ndarray:
    """Width of the n-gram ending at each token of `last`: its characters, a CJK character counting
    CJK_CHAR_WIDTH (ten Chinese characters say about as much as ten English words)."""
    cjk_before = np.r_[0, np.cumsum(toks.cjk)]
    n_cjk = cjk_before[last + 1] - cjk_before[last - n + 1]
    return toks.ends[last] - toks.starts[last - n + 1] + (CJK_CHAR_WIDTH - 1) * n_cjk


def find_contamination(texts: Sequence[str], index: NGramIndex) -> list[Match]:
    """The first match (leftmost n-gram, then exact questions by length) of each contaminated text."""
    toks = tokenize_batch(texts)
    found: dict[int, Match] = {}
    for n, table, items, kind in index.tables():
        hashes, last = ngram_hashes(toks, n)
        hits, pos = _lookup(table, index.presence(n), hashes)
        wide = span_widths(toks, last[hits], n) >= (index.min_chars if kind == "ngram" else index.min_chars // 2)
        hits, pos = hits[wide], pos[wide]
        for k, p in zip(hits.tolist(), pos.tolist(), strict=True):
            doc = int(toks.owner[last[k]])
            if doc not in found:
                span = toks.joined[toks.starts[last[k] - n + 1]:toks.ends[last[k]]]
                found[doc] = Match(doc, int(items[p]), span, kind)
    return [found[d] for d in sorted(found)]
