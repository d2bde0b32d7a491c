"""SFT data build: programs run in the real sandbox, tool outputs come from the real run, wrong or
failing solutions are dropped and counted by reason, bad records name file and line, and a rerun
resumes from the finished shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.grading import Grader
from evaluation.sandbox import SandboxConfig, SandboxPool
from training.sft import converters
from training.sft.build import BuildConfig, SourceConfig, build_dataset, verify_shard
from training.sft.schema import RecordError, read_examples


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=2, cpu_time_s=2, wall_time_s=5)) as sandbox:
        yield sandbox


def _ex(id_: str, fmt: str, solution: str, answer: str):
    return converters.example(id_, "What is 2 + 4?", solution, "en", fmt, "test", answer)


def test_wrong_solutions_are_dropped_and_counted_and_tool_outputs_are_the_real_ones(pool):
    shard = [
        _ex("pot-right", "pot", "```python\nprint(2 + 4)\n```", "6"),
        _ex("pot-wrong", "pot", "```python\nprint(2 * 4)\n```", "6"),  # deliberately wrong
        _ex("pot-crash", "pot", "```python\nprint(1 / 0)\n```", "6"),
        _ex("pot-none", "pot", "I cannot write programs.", "6"),
        _ex("cot-right", "cot", "2 + 4 = 6\nThe answer is \\boxed{6}.", "6"),
        _ex("cot-wrong", "cot", "2 + 4 = 7\nThe answer is \\boxed{7}.", "6"),
        # the shown output is made up: the build replaces it with what the program really prints
        _ex("tool-fake-output", "tool", "Add.\n```python\nprint(2 + 4)\n```\n```output\n999\n```\nSo \\boxed{6}.", "6"),
        _ex("tool-no-output", "tool", "Add.\n```python\nprint(2 + 4)\n```\nSo \\boxed{6}.", "6"),
        _ex("contaminated", "cot", "The answer is \\boxed{6}.", "6"),
    ]
    with Grader() as grader:
        kept, dropped = verify_shard(shard, pool, grader, max_chars=2000, contaminated={8})
    assert [e.id for e in kept] == ["pot-right", "cot-right", "tool-fake-output", "tool-no-output"]
    assert {e.id: why for e, why in dropped} == {"pot-wrong": "wrong_answer", "pot-crash": "program_error",
                                                 "pot-none": "program_error", "cot-wrong": "wrong_answer",
                                                 "contaminated": "contaminated"}
    real = "Add.\n```python\nprint(2 + 4)\n```\n```output\n6\n```\nSo \\boxed{6}."
    assert kept[2].solution == real and kept[3].solution == real


def test_build_counts_drops_writes_them_aside_and_resumes(tmp_path):
    rows = [{"question": "Tom has 2 apples and buys 4. How many?", "answer": "2 + 4 = <<2+4=6>>6\n#### 6"},
            {"question": "Ann has 3 pens and loses 1. How many?", "answer": "3 - 1 = 2\n#### 5"},  # wrong gold
            {"question": "No final line.", "answer": "It is 4."}]
    (tmp_path / "gsm.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = BuildConfig(out_dir=tmp_path / "out", shard_size=4, sandbox=SandboxConfig(workers=1),
                      sources=[SourceConfig("gsm", "gsm8k", str(tmp_path / "gsm.jsonl")),
                               SourceConfig("syn", "synthetic", count=3, heldout=2, seed=1)])
    summary = build_dataset(cfg)
    assert summary["sources"]["gsm"] == {"examples": 2, "skipped_no_final_answer": 1, "kept": 2}  # gold 5: CoT says 5
    assert summary["sources"]["syn"] == {"examples": 9, "kept": 9}
    kept = [e for p in sorted((tmp_path / "out" / "shards").rglob("*.parquet")) for e in read_examples(p)]
    assert len(kept) == 11 and kept[0].solution == "2 + 4 = 6\nThe answer is \\boxed{6}."
    # resume: a finished shard is not rebuilt; a missing one is
    done = tmp_path / "out" / "shards" / "syn" / "00000.parquet"
    stamp = done.stat().st_mtime_ns
    (tmp_path / "out" / "shards" / "syn" / "00002.json").unlink()
    assert build_dataset(cfg)["total"] == summary["total"]
    assert done.stat().st_mtime_ns == stamp


def test_bad_records_name_file_and_line(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"question": "q", "answer": "1\\n#### 1"}\n{"question": \n')
    with pytest.raises(RecordError, match=r"bad\.jsonl:2: not valid JSON"):
        converters.convert("gsm8k", converters.local_records("gsm8k", bad_json))
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"question": "q", "answer": "1\\n#### 1"}\n\n{"question": "q2"}\n')
    with pytest.raises(RecordError, match=r"missing\.jsonl:3: field 'answer' missing"):
        converters.convert("gsm8k", converters.local_records("gsm8k", missing))
    math_dir = tmp_path / "math" / "algebra"
    math_dir.mkdir(parents=True)
    (math_dir / "1.json").write_text(json.dumps({"problem": "p", "solution": "no box here"}))
    (math_dir / "2.json").write_text(json.dumps({"problem": "p", "solution": "so $\\boxed{3}$"}))
    out = converters.convert("math", converters.local_records("math", tmp_path / "math"))
    assert [e.answer for e in out.examples] == ["3"] and out.skipped == {"no_boxed_answer": 1}


def test_hugging_face_path_reads_like_the_local_files(tmp_path):
    rows = [{"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(5)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    local = converters.convert("gsm8k", converters.local_records("gsm8k", path)).examples
    hf = converters.convert("gsm8k", converters.hf_records("gsm8k", path="json", data_files=str(path))).examples
    assert [(e.messages, e.answer) for e in hf] == [(e.messages, e.answer) for e in local]
    assert converters.HF_SOURCES["gsm8k"][0] == "openai/gsm8k"


def test_schema_errors_name_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.sft.schema import SCHEMA

    good = _ex("a", "cot", "\\boxed{6}", "6").to_row()
    bad = {**good, "id": "b", "messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}
    pq.write_table(pa.Table.from_pylist([good, bad], schema=SCHEMA), tmp_path / "x.parquet")
    with pytest.raises(RecordError, match=r"x\.parquet: row 1 \(id 'b'\): roles"):
        list(read_examples(tmp_path / "x.parquet"))
    assert Path(tmp_path / "x.parquet").is_file()
