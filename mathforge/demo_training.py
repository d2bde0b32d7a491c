"""The demo's model stages (`mathforge.demo_stages.Stage`): tokenizer, pretraining, SFT, reward models,
GRPO and the evaluations between them, each the stage's own `mathforge train ...` command on its tiny
config with the paths that chain it to the stage before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mathforge.demo_stages import DemoPlan, Stage, StageFailed, q
from mathforge.io import write_parquet_texts


def training_stages(plan: DemoPlan) -> list[Stage]:
    cfg, p = plan.cfg, plan.p
    pre, sft = str(cfg.pretrain.path()), str(cfg.sft.path())
    pretrain_args = [f"data.tokenizer_dir={q(p('tokenizer'))}", f"data.tokenized_dir={q(p('tokenized'))}",
                     f"train.run_dir={q(p('pretrain'))}", mixture_override(plan), *cfg.pretrain.overrides]
    sft_args = [f"data.tokenizer_dir={q(p('tokenizer'))}", *cfg.sft.overrides]
    stages = [
        Stage("tokenizer", "byte-level BPE trained on the pretraining mixture",
              ["train", "tokenizer", pre, *pretrain_args], [p("tokenizer"), p("arithmetic")],
              lambda: collect_tokenizer(p("tokenizer")), prepare=lambda: write_arithmetic(plan)),
        Stage("pretrain", "continued pretraining of the tiny Llama on the mixture (megatron-core)",
              ["train", "pretrain", pre, *pretrain_args], [p("pretrain"), p("tokenized")],
              lambda: collect_training(p("pretrain")), progress=lambda: training_progress(p("pretrain")),
              distributed=True),
        Stage("pretrain-export", "the pretrained checkpoint as a Hugging Face model at the SFT context length",
              ["train", "export", "--stage", "sft", "--out", str(p("pretrain", "hf-sft-context")), sft,
               f"train.run_dir={q(p('pretrain'))}", *sft_args], [p("pretrain", "hf-sft-context")],
              lambda: {"produced": str(p("pretrain", "hf-sft-context")), "metric": "",
                       "outputs": {"hf": str(p("pretrain", "hf-sft-context"))}, "metrics": {}}),
        eval_stage(plan, "eval-pretrain", p("pretrain", "hf-sft-context")),
        Stage("sft-data", "generated EN/ZH problems in CoT, PoT and tool format, programs run in the sandbox",
              ["train", "sft-data", sft, f"build.out_dir={q(p('sft-data'))}", *sft_args], [p("sft-data")],
              lambda: collect_sft_data(p("sft-data")),
              progress=lambda: f"{len(list(p('sft-data', 'shards').glob('*/*.json')))} shards done"),
        Stage("sft", "supervised fine-tuning from the pretraining checkpoint (packed, assistant-only loss)",
              ["train", "sft", sft, f"data.dataset={q(p('sft-data', 'shards'))}", f"train.run_dir={q(p('sft'))}",
               f"train.init_from_checkpoint={q(p('pretrain'))}", *sft_args], [p("sft")],
              lambda: collect_training(p("sft")), progress=lambda: training_progress(p("sft")), distributed=True),
        eval_stage(plan, "eval-sft", p("sft", "hf")),
        Stage("rm-data", "step-labelled solutions: each SFT training item's correct one and a copy with a wrong step",
              None, [p("rm-data")], lambda: collect_rm_data(p("rm-data", "labels.jsonl")),
              prepare=lambda: write_rm_data(plan)),
        rm_stage(plan, "rm", "outcome", p("rm"), cfg.rm.overrides),
        grpo_stage(plan, "grpo", p("grpo"), outcome_reward_overrides(plan)),
        eval_stage(plan, "eval-grpo", p("grpo", "hf")),
    ]
    return stages


def process_stages(plan: DemoPlan) -> list[Stage]:
    """Process supervision: a PRM on the same step labels, GRPO from the SFT model rewarded per step by it
    (the outcome run's settings, then the process table's own overrides)."""
    cfg, p = plan.cfg, plan.p
    reward = ["reward.outcome_rm.weight=0", "reward.process_rm.weight=1.0",
              f"reward.process_rm.path={q(p('prm', 'hf'))}"]
    return [rm_stage(plan, "prm", "process", p("prm"), [*cfg.rm.overrides, *cfg.process.rm_overrides]),
            grpo_stage(plan, "grpo-process", p("grpo-process"),
                       [*cfg.grpo.overrides, *reward, *cfg.process.grpo_overrides]),
            eval_stage(plan, "eval-grpo-process", p("grpo-process", "hf"))]


def rm_stage(plan: DemoPlan, name: str, kind: str, run_dir: Path, overrides: list[str]) -> Stage:
    p = plan.p
    argv = ["train", "rm", str(plan.cfg.rm.path()), *plan.model_overrides(), f"data.tokenizer_dir={q(p('sft', 'hf'))}",
            f"data.train_files=[{q(p('rm-data', 'labels.jsonl'))}]", f"train.init_from_hf={q(p('sft', 'hf'))}",
            f"train.run_dir={q(run_dir)}", f"train.kind='{kind}'", *overrides]
    return Stage(name, f"{kind} reward model (scalar head) from the SFT model", argv, [run_dir],
                 lambda: collect_training(run_dir), progress=lambda: training_progress(run_dir), distributed=True)


def outcome_reward_overrides(plan: DemoPlan) -> list[str]:
    weight = plan.cfg.grpo.outcome_rm_weight
    if weight == 0:
        return list(plan.cfg.grpo.overrides)
    return [f"reward.outcome_rm.weight={weight}", f"reward.outcome_rm.path={q(plan.p('rm', 'hf'))}",
            *plan.cfg.grpo.overrides]


def grpo_stage(plan: DemoPlan, name: str, run_dir: Path, reward: list[str]) -> Stage:
    p, s = plan.p, plan.synthetic
    source = (f'{{name = "synthetic", kind = "synthetic", count = {s.count}, seed = {s.seed}, heldout = {s.heldout}, '
              'langs = ["en", "zh"]}')
    argv = ["train", "grpo", str(plan.cfg.grpo.path()), *plan.model_overrides(), f"train.init_from_hf={q(p('sft', 'hf'))}",
            f"train.run_dir={q(run_dir)}", f"prompts.sources=[{source}]", *reward]
    return Stage(name, "GRPO from the SFT model: vLLM rollouts on the SFT training questions", argv, [run_dir],
                 lambda: collect_grpo(run_dir), progress=lambda: training_progress(run_dir, "reward_mean"),
                 distributed=True)


def eval_stage(plan: DemoPlan, name: str, model: Path) -> Stage:
    out = plan.p("eval", name.removeprefix("eval-"))
    argv = ["--config", str(plan.config_path), "--model", str(model), "--out", str(out), *plan.config_overrides]
    return Stage(name, f"held-out accuracy (greedy), Pass@K and Maj@K of {model.parent.name}", argv, [out],
                 lambda: collect_eval(out), module="mathforge.demo_eval")


def mixture_override(plan: DemoPlan) -> str:
    pre = plan.cfg.pretrain
    sources = [f"{{name = \"math\", paths = [{q(plan.corpus_dir())}], weight = {pre.corpus_weight}}}"]
    if pre.arithmetic_documents or pre.worked_problems:
        sources.append(f"{{name = \"arithmetic\", paths = [{q(plan.p('arithmetic'))}], weight = {pre.arithmetic_weight}}}")
    return f"data.sources=[{', '.join(sources)}]"


def write_arithmetic(plan: DemoPlan) -> None:
    """The generated math source: arithmetic documents, then worked word problems that are not evaluated."""
    from training.demo import synthetic_math_texts, worked_problem_texts

    pre = plan.cfg.pretrain
    heldout = {item.question for item in plan.heldout_items()}
    texts = synthetic_math_texts(pre.arithmetic_documents) + worked_problem_texts(
        pre.worked_problems, pre.worked_problems_seed, heldout)
    if texts:
        write_parquet_texts(plan.p("arithmetic", "part0.parquet"), texts)


def write_rm_data(plan: DemoPlan) -> None:
    from training.rl.step_labels import write_labelled
    from training.rl.synthetic_steps import labelled_solutions

    cfg = plan.cfg.rm_data
    items = plan.train_items()[: cfg.items]
    write_labelled(plan.p("rm-data", "labels.jsonl"), labelled_solutions(items, cfg.seed, cfg.wrong_per_item))


# --- what each stage wrote -------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_progress(run_dir: Path, key: str = "loss") -> str:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return "starting"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        return "starting"
    last = json.loads(lines[-1])
    value = last.get(key, last.get("loss"))
    return f"step {last['step'] + 1}  {key} {value:.3f}" if isinstance(value, float) else f"step {last['step'] + 1}"


def collect_tokenizer(folder: Path) -> dict[str, Any]:
    vocab = len(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])
    return {"produced": f"BPE with {vocab} tokens", "metric": "", "outputs": {"tokenizer": str(folder)},
            "metrics": {"vocab_size": vocab}}


def collect_training(run_dir: Path) -> dict[str, Any]:
    if not (run_dir / "hf" / "config.json").is_file():  # the loop exports only a complete run
        raise StageFailed(f"{run_dir}: the run stopped before its last step (a stop signal?): rerun the demo "
                          "to resume it from its checkpoint")
    records = read_jsonl(run_dir / "metrics.jsonl")
    losses = [r["loss"] for r in records]
    return {"produced": f"{len(records)} steps, HF export {run_dir / 'hf'}",
            "metric": f"loss {losses[0]:.3f} -> {losses[-1]:.3f}",
            "outputs": {"run_dir": str(run_dir), "hf": str(run_dir / "hf"), "metrics": str(run_dir / "metrics.jsonl")},
            "metrics": {"loss": losses, "steps": len(records)}}


def collect_grpo(run_dir: Path) -> dict[str, Any]:
    out = collect_training(run_dir)
    records = read_jsonl(run_dir / "metrics.jsonl")
    rewards = [r["reward_mean"] for r in records if "reward_mean" in r]
    accuracy = [r["accuracy"] for r in records if "accuracy" in r]
    out["metrics"] |= {"reward_mean": rewards, "accuracy": accuracy,
                       "kl": [r["kl"] for r in records if "kl" in r]}
    out["metric"] = f"reward {rewards[0]:.3f} -> {rewards[-1]:.3f}" if rewards else out["metric"]
    return out


def collect_sft_data(folder: Path) -> dict[str, Any]:
    total = json.loads((folder / "summary.json").read_text())["total"]
    return {"produced": f"{total.get('kept', 0)} verified examples", "metric": "",
            "outputs": {"shards": str(folder / "shards"), "summary": str(folder / "summary.json")}, "metrics": total}


def collect_rm_data(path: Path) -> dict[str, Any]:
    rows = read_jsonl(path)
    correct = sum(r["labels"][-1] == 1.0 for r in rows)
    return {"produced": f"{len(rows)} solutions ({correct} correct, {len(rows) - correct} with a wrong step)",
            "metric": "", "outputs": {"labels": str(path)}, "metrics": {"solutions": len(rows), "correct": correct}}


def collect_eval(out: Path) -> dict[str, Any]:
    summary = json.loads((out / "summary.json").read_text())
    shown = ", ".join(f"{k} {v:.3f}" for k, v in summary["headline"].items())
    return {"produced": f"{summary['questions']} held-out questions", "metric": shown,
            "outputs": {"summary": str(out / "summary.json")}, "metrics": summary}
