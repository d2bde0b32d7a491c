"""`mathforge demo` end to end with configs/tiny/demo_ci.toml (every stage, smallest settings), then its outputs.

One run (module fixture, the real command in a subprocess: real datatrove, fastText, DuckDB, megatron-core,
vLLM CPU build, sandbox) is checked for what the recipe must show: a decontaminated corpus, recall rising
across rounds, falling losses, GRPO's reward rising, the report, SFT beating the pretrained model on the
held-out split. A rerun of the same command must skip every stage. The Slurm path is tested on one corpus
stage and one training stage (a full Slurm demo would double the CI time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mathforge.config import load_config
from mathforge.demo_config import REPO, DemoConfig
from mathforge.demo_stages import DemoPlan

CI_CONFIG = REPO / "configs" / "tiny" / "demo_ci.toml"


def demo(out: Path, *args: str, timeout: int = 2400) -> subprocess.CompletedProcess:
    """The real command; on a timeout it gets SIGTERM, which stops the running stage's command too."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mathforge.cli", "demo", "--out", str(out), "--config",
                             str(CI_CONFIG), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=180)
        pytest.fail(f"mathforge demo ran over {timeout} s:\n{stdout[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = demo(out)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    print(proc.stdout)
    markers = {m["stage"]: m for m in json.loads((out / "demo_summary.json").read_text())}
    return out, markers


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.timeout(2700)
def test_every_stage_ran_and_the_report_has_its_plots(demo_run):
    out, markers = demo_run
    plan = DemoPlan(load_config(DemoConfig, CI_CONFIG), out, CI_CONFIG, [])
    assert list(markers) == [s.name for s in plan.stages()]
    report = (out / "report" / "report.md").read_text()
    for stage in markers:
        assert f"| {stage} |" in report
    for png in ("recall.png", "domains.png", "losses.png", "grpo.png", "accuracy.png"):
        assert (out / "report" / png).read_bytes()[:4] == b"\x89PNG", png
        assert f"]({png})" in report


@pytest.mark.timeout(2700)
def test_the_corpus_holds_no_benchmark_ngram(demo_run):
    """The final Parquet corpus against the demo's benchmark set (planted leaks of the sample crawl and the
    held-out evaluation questions), with the corpus's own decontamination code and rule."""
    import pyarrow.dataset as ds

    from corpus.config import CorpusRunConfig
    from corpus.decontam_step import benchmark_items, item_texts
    from corpus.decontaminate import build_index, find_contamination

    out, markers = demo_run
    plan = DemoPlan(load_config(DemoConfig, CI_CONFIG), out, CI_CONFIG, [])
    cfg = load_config(CorpusRunConfig, plan.cfg.corpus.path(), plan.corpus_overrides()).decontam
    assert {j.name for j in cfg.jsonl} == {"sample_bench", "synthetic_heldout"}
    index = build_index(item_texts(benchmark_items(cfg), cfg.index_solutions), n=cfg.ngram, min_ngram=cfg.min_ngram,
                        min_chars=cfg.min_chars)
    texts = ds.dataset(markers["recall"]["outputs"]["corpus"], format="parquet").to_table(columns=["text"])
    texts = texts.column("text").to_pylist()
    assert len(texts) == markers["recall"]["metrics"]["written"] > 0
    assert find_contamination(texts, index) == []
    assert markers["recall"]["metrics"]["removed_by_decontamination"] > 0  # the crawl's planted leaks were there


def test_the_generated_pretraining_math_leaves_out_the_evaluation_questions(tmp_path):
    """The word problems that teach copying come from their own stream, every held-out question skipped."""
    import pyarrow.parquet as pq

    from mathforge.demo_training import write_arithmetic

    plan = DemoPlan(load_config(DemoConfig, CI_CONFIG, ["pretrain.worked_problems_seed=1"]), tmp_path, CI_CONFIG, [])
    assert plan.synthetic.seed + 1 == 1  # stream 1 is the held-out stream: the exclusion must do the work
    write_arithmetic(plan)
    texts = pq.read_table(tmp_path / "arithmetic" / "part0.parquet").column("text").to_pylist()
    pre = plan.cfg.pretrain
    assert len(texts) == pre.arithmetic_documents + pre.worked_problems
    heldout = [item.question for item in plan.heldout_items()]
    problems = texts[pre.arithmetic_documents:]
    assert not [q for q in heldout if any(q in t for t in problems)]
    assert sum(t.startswith(("Question: ", "问题：")) for t in problems) == pre.worked_problems


@pytest.mark.timeout(2700)
def test_recall_rose_and_losses_fell(demo_run):
    _, markers = demo_run
    recall = markers["recall"]["metrics"]["recall_per_round"]
    assert len(recall) >= 2 and recall[-1] > recall[0], recall
    for stage in ("pretrain", "sft"):
        loss = markers[stage]["metrics"]["loss"]
        head = max(1, len(loss) // 5)
        assert mean(loss[-head:]) < mean(loss[:head]) - 0.1, (stage, loss)


@pytest.mark.timeout(2700)
def test_grpo_reward_rose(demo_run):
    """Mean reward of the last half of the steps above the first half's (halves smooth the per-step noise)."""
    _, markers = demo_run
    reward = markers["grpo"]["metrics"]["reward_mean"]
    half = len(reward) // 2
    assert half >= 1 and mean(reward[-half:]) > mean(reward[:half]), reward


@pytest.mark.timeout(2700)
def test_sft_beats_the_pretrained_model_on_the_heldout_split(demo_run):
    _, markers = demo_run
    before, after = markers["eval-pretrain"]["metrics"]["headline"], markers["eval-sft"]["metrics"]["headline"]
    assert set(before) == set(after) and any(k.startswith("cot pass@") for k in after)
    assert mean([after[k] for k in after if "greedy" in k]) > mean([before[k] for k in before if "greedy" in k]), \
        (before, after)


@pytest.mark.timeout(2700)
def test_a_rerun_skips_every_finished_stage(demo_run):
    out, markers = demo_run
    proc = demo(out, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("done before") == len(markers)
    assert [m["seconds"] for m in json.loads((out / "demo_summary.json").read_text())] == \
        [m["seconds"] for m in markers.values()]


@pytest.mark.slurm
@pytest.mark.timeout(900)
def test_the_slurm_path_runs_corpus_and_training_stages(slurm_cluster, tmp_path):
    """Through `executor = "slurm"`: the recall rounds' datatrove tasks on Slurm, the tokenizer as a one-task
    sbatch job, pretraining through training/launch/pretrain.sbatch (srun + torchrun)."""
    from mathforge.demo_runner import run_all

    venv = Path(sys.executable).parent / "activate"
    overrides = ["executor='slurm'", f"slurm.venv_activate='{venv}'",
                 "corpus.overrides=['recall.max_rounds=1', 'executor.mem_per_cpu_gb=1', \"executor.time='00:10:00'\"]",
                 "pretrain.overrides=['train.total_tokens=8192', 'train.save_every=0']"]
    plan = DemoPlan(load_config(DemoConfig, CI_CONFIG, overrides), tmp_path / "run", CI_CONFIG, overrides)
    markers = {m["stage"]: m for m in run_all(plan, until="pretrain")}
    root = plan.root
    assert list(markers) == ["crawl", "recall", "tokenizer", "pretrain"]
    assert list((root / "corpus" / "logs").rglob("launch_script.slurm"))  # datatrove's Slurm executor ran them
    assert markers["recall"]["metrics"]["written"] > 0
    assert "Submitted batch job" in (root / "logs" / "tokenizer.log").read_text()
    assert "1 node(s) x 1 process(es)" in (root / "logs" / "pretrain.log").read_text()
    assert markers["pretrain"]["metrics"]["steps"] == 2
