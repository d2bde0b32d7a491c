"""Decontamination: the vectorised hashed n-gram matcher against a slow, obviously correct reference."""

from __future__ import annotations

import random

import numpy as np
import pytest

from corpus.decontaminate import (
    BenchmarkText,
    NGramIndex,
    bound_tokens,
    build_index,
    find_contamination,
    tokenize_batch,
)
from corpus.reference import ref_contaminated, ref_token_spans, ref_tokens

EN_VOCAB = ["the", "a", "x", "2", "of", "sum", "Prime", "ÉCOLE", "ﬁve", "42,", "(n)", "$x^2$", "\\frac{1}{2}", "is"]
ZH_VOCAB = ["是", "的", "数", "函", "小明", "三角形", "，", "。", "x", "12"]


def random_text(rng: random.Random, vocab: list[str], k: int) -> str:
    return "".join(rng.choice(vocab) + rng.choice([" ", "", ",  ", "\n"]) for _ in range(k))


@pytest.mark.parametrize("vocab", [EN_VOCAB, ZH_VOCAB, EN_VOCAB + ZH_VOCAB], ids=["en", "zh", "mixed"])
@pytest.mark.parametrize(("seed", "min_chars"), [(0, 0), (1, 0), (2, 30), (3, 50)])
def test_matches_reference_on_random_texts(vocab, seed, min_chars):
    rng = random.Random(seed)
    bench = [BenchmarkText("b", str(i), random_text(rng, vocab, rng.randint(1, 25)), rng.random() < 0.5)
             for i in range(30)]
    docs = [random_text(rng, vocab, rng.randint(0, 80)) for _ in range(300)]
    for i in range(0, len(docs), 5):  # plant benchmark texts (whole or a slice) in some documents
        src = rng.choice(bench).text
        cut = rng.randint(0, len(src) // 2)
        docs[i] = docs[i] + " " + src[cut:] + " " + random_text(rng, vocab, 3)
    index = build_index(bench, n=10, min_ngram=3, batch=7, min_chars=min_chars)  # small batches: the flush path
    fast = {m.doc for m in find_contamination(docs, index)}
    expected = {i for i, hit in enumerate(ref_contaminated(docs, bench, min_chars=min_chars)) if hit}
    assert fast == expected
    assert expected, "the planted texts must produce some matches, or this test proves nothing"


def test_tokens_agree_with_reference():
    rng = random.Random(7)
    texts = [random_text(rng, EN_VOCAB + ZH_VOCAB, rng.randint(0, 40)) for _ in range(200)]
    toks = tokenize_batch(texts)
    for i, t in enumerate(texts):
        spans = [toks.joined[s:e] for s, e, o in zip(toks.starts, toks.ends, toks.owner, strict=True) if o == i]
        bounded = bound_tokens(t)
        assert spans == [bounded[s:e] for _, s, e in ref_token_spans(t)]  # a number run spans "42, 2"


def test_normalisation_rule_examples():
    fx = ref_tokens("$x^2$")[0]
    assert fx.startswith("fx") and len(fx) == 14 and not any(c.isdigit() for c in fx)
    assert ref_tokens("Let $x^2$ be ＡＢ, ﬁne!") == ["let", fx, "be", "ab", "fine"]
    assert ref_tokens("Let \\( x ^ 2 \\) or $$x^2$$ or $X^2$") == ["let", fx, "or", fx, "or", fx]
    assert ref_tokens("odd: 1, 3, 5, 7, 9 and 3 × 4 = 12; x2 y") == ["odd", "nm1d3d5d7d9", "and", "nm3d4d12", "x2", "y"]
    assert ref_tokens("costs $5 and $10 each") == ["costs", "5", "and", "10", "each"]  # money, not a formula
    assert ref_tokens("求函数f(x)的值") == ["求", "函", "数", "f", "x", "的", "值"]
    one, two = tokenize_batch(["The SUM, of primes!"]), tokenize_batch(["the sum of   primes"])
    assert np.array_equal(one.hashes, two.hashes)


def test_ten_gram_and_exact_rules_en_zh():
    q = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"
    bench = [BenchmarkText("gsm8k", "1", q, True), BenchmarkText("cmath", "2", "小明有三本书，小红的书是小明的四倍", True),
             BenchmarkText("short", "3", "sum of all primes", True), BenchmarkText("ans", "3", "frac 1 2", False)]
    index = build_index(bench)
    docs = ["intro: natalia SOLD clips to 48 of her friends in april, and then more",  # 11 tokens of q: hit
            "Natalia sold clips to 48 of her friends in",  # 9 tokens of q: too short for a 10-gram
            "题目：小明有三本书，小红的书是小明",  # 10 Chinese characters of the question: hit
            "We compute the Sum of all Primes below 10.",  # the short question, exactly: hit
            "the sum of all prime numbers",  # not the same token sequence
            "$\\frac{1}{2}$ is a fraction"]  # a short answer is not used on its own
    matches = find_contamination(docs, index)
    assert [(m.doc, index.items[m.item][0], m.kind) for m in matches] == [
        (0, "gsm8k", "ngram"), (2, "cmath", "ngram"), (3, "short", "exact")]
    assert matches[0].ngram == "natalia sold clips to 48 of her friends in april"


def test_symbol_runs_no_longer_match_common_math():
    """What removed ~1 in 6 real math pages: an identity, odd numbers, a matrix, pagination, a times table
    shared with a benchmark solution. Formulas and number runs are one token each, and a match spans 40 chars."""
    solution = ("We factor $a^3-b^3=(a-b)(a^2+ab+b^2)$. The odd numbers 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 sum to 100. "
                "The matrix $\\begin{pmatrix} 1 & 2 & 3 \\\\ 4 & 5 & 6 \\\\ 7 & 8 & 9 \\end{pmatrix}$ is singular, "
                "pages 1 2 3 4 5 6 7 8 9 10, and 3 x 1 = 3, 3 x 2 = 6, 3 x 3 = 9, 3 x 4 = 12, 3 x 5 = 15.")
    index = build_index([BenchmarkText("math", "1", solution, False)], min_chars=40)
    pages = ["Recall the identity $a^3 - b^3 = (a-b)(a^2+ab+b^2)$ from algebra class.",
             "a^3-b^3=(a-b)(a^2+ab+b^2)",
             "List: 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 are odd.",
             "$\\begin{pmatrix} 1 & 2 & 3 \\\\ 4 & 5 & 6 \\\\ 7 & 8 & 9 \\end{pmatrix}$",
             "Page 1 2 3 4 5 6 7 8 9 10 Next",
             "3 x 1 = 3, 3 x 2 = 6, 3 x 3 = 9, 3 x 4 = 12, 3 x 5 = 15"]
    assert find_contamination(pages, index) == []
    assert [m.doc for m in find_contamination(["Intro. " + solution], index)] == [0]


def test_index_round_trip(tmp_path):
    rng = random.Random(1)
    bench = [BenchmarkText("b", str(i), random_text(rng, EN_VOCAB, 20), i % 2 == 0) for i in range(20)]
    bench.append(BenchmarkText("b", "s", "sum of all primes", True))
    index = build_index(bench)
    index.save(tmp_path / "i.npz")
    loaded = NGramIndex.load(tmp_path / "i.npz")
    docs = [random_text(rng, EN_VOCAB, 50) + b.text for b in bench]
    assert [(m.doc, m.item, m.ngram) for m in find_contamination(docs, loaded)] == [
        (m.doc, m.item, m.ngram) for m in find_contamination(docs, index)]
    assert loaded.items == index.items


def test_real_benchmarks_find_planted_questions(benchmarks_dir):
    from corpus.config import DecontamConfig
    from corpus.decontam_step import benchmark_items, item_texts

    cfg = DecontamConfig(benchmarks_root=str(benchmarks_dir), benchmarks=["gsm8k", "cmath", "math500"])
    items = list(benchmark_items(cfg))
    index = build_index(item_texts(items))
    by_bench = {}
    for it in items:
        by_bench.setdefault(it.benchmark, it)
    docs = [f"Homework help. {it.question} Thanks!" for it in by_bench.values()] + ["An unrelated page about cooking."]
    found = find_contamination(docs, index)
    assert [m.doc for m in found] == list(range(len(by_bench)))
    assert {index.items[m.item][0] for m in found} == set(by_bench)


def test_real_planted_leaks_caught_and_real_pages_kept(benchmarks_dir, web_dir):
    """Every rewrite of a real benchmark question a page makes is caught; no real page (math or not) is removed."""
    from corpus.config import DecontamConfig
    from corpus.decontam_step import benchmark_items, item_texts
    from corpus.extract import html_to_text
    from corpus.leak_variants import VARIANTS, leak_variant
    from corpus.real_sources import read_page_html, web_manifest

    items = list(benchmark_items(DecontamConfig(benchmarks_root=str(benchmarks_dir),
                                                benchmarks=["gsm8k", "math500", "cmath", "olympiadbench"])))
    index = build_index(item_texts(items, solutions=False), min_chars=DecontamConfig().min_chars)
    rng = random.Random(3)
    questions = [it.question for it in rng.sample(items, 40)]
    docs = []
    for q in questions:
        for v in VARIANTS:
            leak = leak_variant(q, v, rng)
            page = f"<html><body><article><p>Homework help, please.</p>{leak}</article></body></html>"
            docs.append(html_to_text(page).text if v == "html" else f"Homework help, please.\n{leak}\nThanks!")
    found = {m.doc for m in find_contamination(docs, index)}
    missed = [(questions[i // len(VARIANTS)][:60], VARIANTS[i % len(VARIANTS)]) for i in range(len(docs)) if i not in found]
    assert not missed
    pages = [html_to_text(read_page_html(p.path)).text for p in web_manifest(web_dir)]
    assert find_contamination(pages, index) == []
