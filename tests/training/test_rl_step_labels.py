"""Step-label loaders on the real PRM800K and Math-Shepherd format samples (../shared/data/train/prm).

4 of the 6 PRM800K sample records are MATH500 problems: they are read here as format fixtures only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from training.rl.step_labels import (
    LabelledSolution,
    LoadReport,
    StepLabelError,
    parse_math_shepherd,
    read_labelled,
    write_labelled,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prm_dir() -> Path:
    path = Path(os.environ.get("MATHFORGE_SHARED", REPO.parent / "shared")) / "data" / "train" / "prm"
    if not path.is_dir():
        pytest.skip(f"step-label samples not found at {path} (set MATHFORGE_SHARED to the shared/ folder)")
    return path


def test_prm800k_follows_the_labelers_trajectory(prm_dir):
    report = LoadReport()
    solutions = read_labelled(prm_dir / "samples_prm800k.jsonl", report=report)
    assert report.read == 5 and report.skipped == {"prm800k quality-control or screening question": 1}
    pencils, found_error, _, _, give_up = solutions
    # step 2: every completion rated -1, the labeler wrote a human step instead (correct by construction)
    assert pencils.steps[1] == "We have $3p+e=1.24$ and $5p+e=1.82$."
    assert pencils.labels == (1.0,) * 6 and pencils.answer == "29"
    assert pencils.steps[-1].endswith("# Answer\n\n29")
    # found_error: the last step has no chosen completion; its first -1 completion ends the solution
    assert len(found_error.steps) == 7 and found_error.first_wrong_step() == 6
    assert found_error.labels[1] == 1.0  # neutral rating counts as positive by default
    # give_up: the 9th step has no completions at all; 8 steps remain, the 8th the human one
    assert len(give_up.steps) == 8 and give_up.steps[7].startswith("By symmetry, we have that the")
    strict = read_labelled(prm_dir / "samples_prm800k.jsonl", neutral="negative")
    assert strict[1].labels[1] == 0.0 and strict[1].first_wrong_step() == 1


def test_math_shepherd_steps_and_labels(prm_dir):
    solutions = read_labelled(prm_dir / "samples_math-shepherd.jsonl")
    assert len(solutions) == 7
    janet = solutions[0]
    assert janet.question.startswith("Janet pays $40/hour") and janet.question.endswith("in a year?")
    assert janet.steps[0] == "Janet spends 3 hours + 5 hours = <<3+5=8>>8 hours per week on music lessons."
    assert janet.labels == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert janet.steps[-1].endswith("The answer is: 13520")
    assert solutions[1].labels[0] == 0.0 and len(solutions[1].steps) == 3
    for solution in solutions:  # every step tag got a label, none kept its "Step k:" prefix
        assert not any(s.startswith("Step ") for s in solution.steps)


def test_bad_records_name_their_source(prm_dir, tmp_path):
    record = json.loads((prm_dir / "samples_math-shepherd.jsonl").read_text(encoding="utf-8").splitlines()[0])
    broken = dict(record, label=record["label"].replace("lessons. +", "lessons. ?", 1))
    with pytest.raises(StepLabelError, match=r"shepherd.jsonl:3: expected '\+' or '-'"):
        parse_math_shepherd(broken, "shepherd.jsonl:3")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "steps": ["a"], "labels": [1.5]}\n', encoding="utf-8")
    with pytest.raises(StepLabelError, match="bad.jsonl:1: labels must lie in"):
        read_labelled(bad)


def test_our_format_round_trips(tmp_path):
    solutions = [LabelledSolution("1+1?", ("1+1=2", "So 2."), (1.0, 0.25), "2", "gen:0")]
    assert write_labelled(tmp_path / "x.jsonl", solutions) == 1
    assert read_labelled(tmp_path / "x.jsonl") == solutions
