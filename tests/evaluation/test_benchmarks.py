"""Benchmark loaders on the real local test sets and on small files written here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evaluation.benchmarks import (
    LOCAL_BENCHMARKS,
    BenchmarkError,
    format_number,
    iter_benchmark_items,
    iter_hf_items,
    load_jsonl_benchmark,
)
from evaluation.normalize import parse_number

# Record counts from shared/data/benchmarks/SOURCES.md (gaokao2023en: 385 records, 2 without gold).
EXPECTED_COUNTS = {
    "gsm8k": 1319, "math": 5000, "math500": 500, "cmath": 1098, "mgsm_zh": 250, "svamp": 1000, "asdiv": 2215,
    "mawps": 2065, "mmlu_stem": 3018, "gaokao_mathcloze": 118, "gaokao_mathqa": 351, "ocw": 272, "sat": 32,
    "aqua": 254, "mathqa": 1000, "gsm_hard": 1319, "aime24": 30, "amc23": 40, "gaokao2023en": 383,
    "olympiadbench": 675, "gaokao2024_I": 14, "gaokao2024_II": 14, "gaokao2024_mix": 91, "cn_middle_school": 101,
    "carp_en": 976,
}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_local_benchmark_loads_with_its_record_count(benchmarks_dir: Path) -> None:
    skipped: list[str] = []
    items = list(iter_benchmark_items(benchmarks_dir, skipped=skipped))
    assert Counter(i.benchmark for i in items) == EXPECTED_COUNTS
    assert set(EXPECTED_COUNTS) == set(LOCAL_BENCHMARKS)
    assert len(skipped) == 2 and all("gaokao2023en" in s and "empty gold" in s for s in skipped)
    assert len({i.item_id for i in items}) == len(items)
    for item in items:
        assert item.question.strip() and item.answer.strip()
        if item.answer_type == "choice":
            assert len(item.choices) >= 4
            assert all(letter in "ABCDEFGHIJ"[: len(item.choices)] for letter in item.answer)
        if item.answer_type == "number":
            parts = item.answer.split(":")  # asdiv ratios keep "a:b"
            assert all(parse_number(p) is not None for p in parts), item


def test_gold_answers_parsed_per_format(benchmarks_dir: Path) -> None:
    first = {}
    for item in iter_benchmark_items(benchmarks_dir):
        first.setdefault(item.benchmark, item)
    assert first["gsm8k"].answer == "18" and first["gsm8k"].solution.startswith("Janet sells")
    assert first["math"].answer == "2"  # last \boxed{} of the solution
    assert first["math500"].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first["cmath"].answer == "18" and first["cmath"].lang == "zh"
    assert first["mgsm_zh"].question.startswith("珍妮特的鸭子")
    assert first["svamp"].answer == "145" and first["svamp"].question.endswith("How big is each group of bananas?")
    assert first["asdiv"].answer == "9"  # "9 (apples)": unit dropped
    assert first["mawps"].answer == "43"
    assert first["mmlu_stem"].answer == "B" and first["mmlu_stem"].choices == ("0", "4", "2", "6")
    assert first["gaokao_mathqa"].answer == "D" and first["gaokao_mathqa"].choices[0] == "$\\{x \\mid x>-1\\}$"
    assert first["sat"].choices == ("$f(-6)=0$", "$f(6)=-6$", "$f(-6)=6$", "$f(0)=-6$")
    assert first["mathqa"].answer == "A" and first["mathqa"].choices == ("12", "16", "18", "24", "26")
    assert first["aqua"].choices[0] == "5(√3 + 1)"
    assert first["amc23"].answer == "27"
    assert first["olympiadbench"].answer == "2" and first["olympiadbench"].answer_type == "number"
    assert first["gaokao2024_I"].answer == "A" and first["gaokao2024_I"].choices[1] == "${2, 3}$"
    assert first["gaokao2024_I"].question.endswith("则 $A \\cap B =$ ( )")  # options cut out of the question
    assert first["gaokao2024_mix"].choices[2] == "{x \\mid-3<x<4}" and first["gaokao2024_mix"].lang == "zh"
    assert first["cn_middle_school"].choices == ("-2", "0", "3", "-1/2") and first["cn_middle_school"].answer == "A"
    assert first["carp_en"].answer == "b ^ { 2 } - 9 a ^ { 2 }" and first["carp_en"].question.startswith("Calculate")
    kinds = Counter((i.benchmark, i.answer_type) for i in iter_benchmark_items(
        benchmarks_dir, ["gaokao2024_I", "gaokao2024_II", "gaokao2024_mix", "cn_middle_school"]))
    assert kinds == {("gaokao2024_I", "choice"): 11, ("gaokao2024_I", "math"): 3, ("gaokao2024_II", "choice"): 11,
                     ("gaokao2024_II", "math"): 3, ("gaokao2024_mix", "choice"): 55, ("gaokao2024_mix", "math"): 36,
                     ("cn_middle_school", "choice"): 41, ("cn_middle_school", "math"): 60}
    # two upstream typos ("C \\log ...", "A \\frac ...": no "." after the letter) still split into 4 options
    typo = [i for i in iter_benchmark_items(benchmarks_dir, ["gaokao2024_mix"]) if i.item_id == "gaokao2024_mix-8"]
    assert typo[0].choices[2] == "\\log _{2} \\frac{y_{1}+y_{2}}{2}<x_{1}+x_{2}"
    multi = [i.answer for i in iter_benchmark_items(benchmarks_dir, ["gaokao_mathqa"]) if len(i.answer) > 1]
    assert sorted(multi) == sorted(["AD", "ACD", "ABD", "AC", "BCD", "CD", "AC"])


def test_math500_golds_agree_with_math_boxed_answers(benchmarks_dir: Path) -> None:
    """Two independent sources of the same gold: MATH-500's `answer` field and MATH's last \\boxed{}."""
    by_problem = {i.question: i.answer for i in iter_benchmark_items(benchmarks_dir, ["math"])}
    pairs = [(i.answer, by_problem[i.question]) for i in iter_benchmark_items(benchmarks_dir, ["math500"])]
    assert len(pairs) == 500
    assert sum(a == b for a, b in pairs) >= 490


def test_original_gsm8k_format_matches_deepseek_copy(benchmarks_dir: Path) -> None:
    ds = [i.answer for i in iter_benchmark_items(benchmarks_dir, ["gsm8k"])]
    original = [i.answer for i in load_jsonl_benchmark(benchmarks_dir / "gsm8k/qwen25math/test.jsonl", "gsm8k", "gsm8k")]
    assert ds == original


def test_format_number() -> None:
    assert format_number(145.0) == "145"
    assert format_number(1.84) == "1.84"
    assert format_number("1,200") == "1200"
    assert format_number("18.00") == "18"
    assert format_number(-3) == "-3"


def test_bad_records_name_file_record_and_key(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "gsm8k/test.jsonl", [{"question": "q", "answer": "1"}, {"question": "q2"}])
    with pytest.raises(BenchmarkError, match=r"gsm8k/test.jsonl: record 2: missing key 'answer'"):
        list(iter_benchmark_items(tmp_path, ["gsm8k"]))
    write_jsonl(path, [{"problem": "p", "solution": "no box here"}])
    with pytest.raises(BenchmarkError, match=r"record 1: no \\boxed"):
        load_jsonl_benchmark(path, "math", "math")
    path.write_text('{"question": "q", "answer": "1"}\n{not json\n', encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"test.jsonl:2: not valid JSON"):
        list(iter_benchmark_items(tmp_path, ["gsm8k"]))
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        list(iter_benchmark_items(tmp_path, ["gsm9k"]))
    with pytest.raises(BenchmarkError, match="benchmark file not found"):
        list(iter_benchmark_items(tmp_path, ["cmath"]))
    assert list(iter_benchmark_items(tmp_path / "empty")) == []  # names=None: absent files are skipped


def test_hf_datasets_path_reads_local_json(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    path = write_jsonl(tmp_path / "gsm8k.jsonl", [
        {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "Half of 1,000?", "answer": "1000/2 = 500\n#### 500"},
    ])
    items = list(iter_hf_items("gsm8k", path="json", data_files=str(path), split="train", fmt="gsm8k"))
    assert [i.answer for i in items] == ["7", "500"]
    assert items[0].solution == "3 + 4 = <<3+4=7>>7"
    mc = write_jsonl(tmp_path / "mmlu.jsonl", [{"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1}])
    (item,) = iter_hf_items("mmlu_stem", path="json", data_files=str(mc), split="train")
    assert item.answer == "B" and item.choices == ("3", "4", "5", "6")
    with pytest.raises(BenchmarkError, match="not in HF_BENCHMARKS"):
        list(iter_hf_items("no_such_benchmark"))
