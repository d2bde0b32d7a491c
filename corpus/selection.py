"""Selection of a round's pages from a score histogram: a token budget (the paper), a top fraction, or a threshold.

Why a histogram: at 40B pages the scores never meet in one process. Each scoring task (or DuckDB
over their Parquet output) sums pages and tokens per score bin; bins merge by addition, and the
driver picks the threshold from `histogram_bins` numbers instead of 40B scores.

Bins: B equal bins over the round's score range [lo, hi] (fastText scores of a small model crowd
into a narrow band, e.g. 0.4999-0.5006, which fixed bins over [0, 1] would put in one bin):
b(s) = min(floor((s - lo) / (hi - lo) * B), B - 1). Because b is monotone, "keep bins >= i" equals
"keep s >= t" with t = the smallest score seen in bin i, so the threshold a round writes down
selects exactly the pages the histogram counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.config import SelectConfig


@dataclass
class ScoreHistogram:
    """Per score bin over [lo, hi]: pages, tokens and the smallest score in it (inf for an empty bin)."""

    pages: np.ndarray
    tokens: np.ndarray
    min_score: np.ndarray
    lo: float = 0.0
    hi: float = 1.0

    @classmethod
    def empty(cls, bins: int, lo: float = 0.0, hi: float = 1.0) -> ScoreHistogram:
        return cls(np.zeros(bins, np.int64), np.zeros(bins, np.int64), np.full(bins, np.inf), lo, hi)

    @property
    def bins(self) -> int:
        return len(self.pages)


def score_bin(scores: np.ndarray, bins: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """b(s) = min(floor((s - lo) / (hi - lo) * B), B - 1), scores clipped to [lo, hi]; all in bin 0 when hi == lo."""
    s = np.clip(np.asarray(scores, np.float64), lo, hi)
    width = (hi - lo) or 1.0
    return np.minimum(np.floor((s - lo) / width * bins), bins - 1).astype(np.int64)


def score_histogram(scores: np.ndarray, tokens: np.ndarray, bins: int) -> ScoreHistogram:
    """The histogram of one batch of pages over their score range (tests and small runs; big runs build
    the same bins in SQL)."""
    scores = np.asarray(scores, np.float64)
    lo, hi = (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)
    hist = ScoreHistogram.empty(bins, lo, hi)
    b = score_bin(scores, bins, lo, hi)
    np.add.at(hist.pages, b, 1)
    np.add.at(hist.tokens, b, np.asarray(tokens, np.int64))
    np.minimum.at(hist.min_score, b, np.asarray(scores, np.float64))
    return hist


def cut_threshold(amount_per_bin: np.ndarray, min_score: np.ndarray, target: float) -> float:
    """Threshold keeping the highest bins until their amount reaches `target`.

    i* = max{ i : sum_{j >= i} A_j >= target } and t = min_score[i*]; keeping `score >= t` keeps
    bins i* .. B-1, i.e. at least `target` (overshooting by less than bin i*'s amount). When the whole
    histogram holds less than the target, every page is kept (t = the smallest score, or 0).
    """
    if target <= 0:
        raise ValueError(f"selection target must be positive, got {target}")
    amount = np.asarray(amount_per_bin, np.float64)
    from_top = np.cumsum(amount[::-1])[::-1]  # from_top[i] = sum_{j >= i} A_j
    reaching = np.flatnonzero(from_top >= target)
    if len(reaching) == 0:
        nonempty = np.isfinite(min_score)
        return float(min_score[nonempty].min()) if nonempty.any() else 0.0
    # i* reaches and i*+1 does not, so A_{i*} > 0: bin i* holds pages and min_score[i*] is finite
    return float(min_score[int(reaching[-1])])


def select_threshold(cfg: SelectConfig, hist: ScoreHistogram) -> tuple[float, dict]:
    """The round's threshold for the configured mode, with what it was derived from (for selection.json)."""
    if cfg.mode == "threshold":
        return float(cfg.threshold), {"mode": "threshold", "threshold": float(cfg.threshold)}
    if int(hist.pages.sum()) == 0:
        return 1.0, {"mode": cfg.mode, "bins": hist.bins, "threshold": 1.0, "note": "no pages"}
    if cfg.mode == "token_budget":
        t = cut_threshold(hist.tokens, hist.min_score, cfg.token_budget)
        return t, {"mode": "token_budget", "token_budget": cfg.token_budget, "bins": hist.bins, "range": [hist.lo, hist.hi],
                   "threshold": t}
    if cfg.mode == "top_fraction":
        if not 0 < cfg.top_fraction <= 1:
            raise ValueError(f"select.top_fraction must be in (0, 1], got {cfg.top_fraction}")
        target = int(np.ceil(cfg.top_fraction * int(hist.pages.sum())))
        t = cut_threshold(hist.pages, hist.min_score, target)
        return t, {"mode": "top_fraction", "top_fraction": cfg.top_fraction, "bins": hist.bins, "range": [hist.lo, hist.hi],
                   "threshold": t}
    raise ValueError(f"select.mode: unknown mode {cfg.mode!r} (threshold, top_fraction, token_budget)")


def threshold_for_texts(cfg: SelectConfig, scores: np.ndarray, texts: list[str]) -> float:
    """The configured mode's threshold for pages held in memory (`corpus run`; recall rounds histogram in SQL)."""
    from corpus.schema import estimate_tokens

    tokens = np.array([estimate_tokens(t) for t in texts], dtype=np.int64)
    return select_threshold(cfg, score_histogram(scores, tokens, cfg.histogram_bins))[0]
