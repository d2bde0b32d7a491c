"""Token-budget / top-fraction selection from a score histogram, against a page-by-page reference."""

import numpy as np
import pytest

from corpus.config import SelectConfig
from corpus.selection import cut_threshold, score_bin, score_histogram, select_threshold


def reference_threshold(scores, amounts, bins, target):
    """Slow and obvious: walk the bins from the top, adding each bin's pages, until the target is reached."""
    lo, hi = min(scores), max(scores)

    def bin_of(s):
        return min(int((s - lo) / ((hi - lo) or 1.0) * bins), bins - 1)

    for b in range(bins - 1, -1, -1):
        kept = [i for i, s in enumerate(scores) if bin_of(s) >= b]
        if sum(amounts[i] for i in kept) >= target:
            return min(scores[i] for i in kept)
    return min(scores)


@pytest.mark.parametrize("seed", range(20))
def test_budget_threshold_matches_reference_and_keeps_the_budget(seed):
    rng = np.random.default_rng(seed)
    n, bins = int(rng.integers(1, 300)), int(rng.choice([1, 7, 50, 1000]))
    scores = np.round(rng.beta(0.5, 0.5, n), 6)
    tokens = rng.integers(0, 5000, n)
    budget = int(rng.integers(1, max(2, int(tokens.sum() * 1.2))))
    hist = score_histogram(scores, tokens, bins)
    t = cut_threshold(hist.tokens, hist.min_score, budget)
    assert t == reference_threshold(list(scores), list(tokens), bins, budget)
    kept = scores >= t
    def bin_of(x):
        return score_bin(np.array([x]), bins, hist.lo, hist.hi)[0]

    assert np.array_equal(kept, score_bin(scores, bins, hist.lo, hist.hi) >= bin_of(t))  # whole bins
    if tokens.sum() >= budget:
        assert tokens[kept].sum() >= budget
        # the exact page-by-page cut lies in the threshold's bin: overshoot is less than one bin
        order = np.argsort(-scores, kind="stable")
        exact_cut = scores[order][np.searchsorted(np.cumsum(tokens[order]), budget)]
        assert bin_of(exact_cut) == bin_of(t)
    else:
        assert kept.all()


def test_top_fraction_mode_keeps_at_least_the_fraction_in_whole_bins():
    rng = np.random.default_rng(0)
    scores = rng.random(10_000)
    hist = score_histogram(scores, np.ones(10_000, np.int64), 1000)
    t, info = select_threshold(SelectConfig(mode="top_fraction", top_fraction=0.1), hist)
    kept = int((scores >= t).sum())
    assert 1000 <= kept < 1000 + hist.pages.max() and info["mode"] == "top_fraction"


def test_token_budget_mode_and_fixed_threshold_mode():
    scores = np.array([0.95, 0.9, 0.5, 0.2, 0.1])
    tokens = np.array([100, 100, 100, 100, 100])
    hist = score_histogram(scores, tokens, 100)
    assert select_threshold(SelectConfig(mode="token_budget", token_budget=150), hist)[0] == 0.9
    assert select_threshold(SelectConfig(mode="token_budget", token_budget=10_000), hist)[0] == 0.1
    assert select_threshold(SelectConfig(mode="threshold", threshold=0.42), hist)[0] == 0.42


def test_squeezed_scores_still_get_a_fine_threshold():
    """A small fastText model scores everything within 0.4999-0.5006: bins over that range still cut well."""
    rng = np.random.default_rng(1)
    scores = np.round(0.4999 + 0.0007 * rng.random(5000), 6)
    hist = score_histogram(scores, np.full(5000, 10), 1000)
    t, _ = select_threshold(SelectConfig(mode="token_budget", token_budget=10 * 500), hist)
    assert 500 <= (scores >= t).sum() <= 520


def test_bad_selection_values_are_errors():
    hist = score_histogram(np.array([0.5]), np.array([1]), 10)
    with pytest.raises(ValueError, match="top_fraction"):
        select_threshold(SelectConfig(mode="top_fraction", top_fraction=0.0), hist)
    with pytest.raises(ValueError, match="positive"):
        select_threshold(SelectConfig(mode="token_budget", token_budget=0), hist)


def test_duckdb_histogram_equals_the_numpy_one(tmp_path):
    """recall.histogram (SQL over the scoring tasks' Parquet) bins exactly like selection.score_histogram."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.recall import histogram

    rng = np.random.default_rng(3)
    scores, tokens = np.round(rng.random(3000) ** 3, 6), rng.integers(1, 900, 3000)
    for i in range(3):
        pq.write_table(pa.table({"score": scores[i::3], "tokens": tokens[i::3]}), tmp_path / f"{i}.parquet")
    got, want = histogram(tmp_path, 257), score_histogram(scores, tokens, 257)
    assert (got.lo, got.hi) == (want.lo, want.hi)
    assert np.array_equal(got.pages, want.pages) and np.array_equal(got.tokens, want.tokens)
    assert np.array_equal(got.min_score, want.min_score)


def test_threshold_for_texts_counts_estimated_tokens():
    from corpus.schema import estimate_tokens
    from corpus.selection import threshold_for_texts

    texts = ["x" * 400, "y" * 40, "z" * 4000, "w" * 400]
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    budget = estimate_tokens(texts[0]) + estimate_tokens(texts[1])
    assert threshold_for_texts(SelectConfig(mode="token_budget", token_budget=budget, histogram_bins=100), scores,
                               texts) == 0.8
