"""Building the index from configured benchmark sources (local JSONL, HF datasets on local files) and the filter step."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from corpus.config import DecontamConfig, HFBenchmarkConfig, JsonlBenchmarkConfig
from corpus.decontam_step import Decontaminator, build_decontam_index
from mathforge.config import ConfigError

QUESTION = "A farmer has 17 sheep and all but 9 run away; how many sheep does the farmer have left now?"


@pytest.fixture
def bench_file(tmp_path):
    path = tmp_path / "bench" / "test.jsonl"
    path.parent.mkdir()
    rows = [{"question": QUESTION, "answer": "9"}, {"question": "Add the two numbers, please", "answer": "3"},
            {"question": "Add two numbers", "answer": "5"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_step(index_path, audit_dir, texts):
    step = Decontaminator(index_path, audit_dir, batch_size=2)
    docs = [Document(text=t, id=f"d{i}", metadata={"url": f"https://x.org/{i}"}) for i, t in enumerate(texts)]
    kept = [d.id for d in step.run(iter(docs), rank=3)]
    return kept, step, pq.read_table(audit_dir / "00003.parquet").to_pylist()


@pytest.mark.parametrize("source", ["jsonl", "hf"])
def test_index_from_sources_and_filter_step(tmp_path, bench_file, source):
    if source == "jsonl":
        cfg = DecontamConfig(jsonl=[JsonlBenchmarkConfig(str(bench_file), "farm")])
    else:  # the Hugging Face path, on local files through the `json` builder
        cfg = DecontamConfig(hf=[HFBenchmarkConfig("farm", path="json", split="train", fmt="question_answer",
                                                   data_files=[str(bench_file)])])
    info = build_decontam_index(cfg, tmp_path / "index.npz")
    assert info["items"] == {"farm": 3} and info["exact_questions"] == {"3": 1, "5": 1}
    texts = ["Clean page about algebra and geometry.", "Quiz: " + QUESTION.upper(), "now add the two numbers, please!",
             "how to add two numbers in Python"]  # a 15-character question is too common to mean a leak
    kept, step, audit = run_step(tmp_path / "index.npz", tmp_path / "audit", texts)
    assert kept == ["d0", "d3"]
    assert step.stats["dropped_contaminated"].total == 2
    assert [(a["doc_id"], a["benchmark"], a["kind"]) for a in audit] == [("d1", "farm", "ngram"), ("d2", "farm", "exact")]
    assert audit[1]["ngram"] == "add the two numbers, please" and audit[0]["url"] == "https://x.org/1"


def test_missing_benchmark_root_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="benchmarks_root"):
        build_decontam_index(DecontamConfig(benchmarks_root=str(tmp_path / "nope")), tmp_path / "i.npz")
