"""Phase 2 of an iterative-RL round: new reward-model data sampled from the round's new policy.

`iterative.questions` training questions (a seeded draw per round from the GRPO prompt sources) get
`iterative.samples_per_question` outputs each from a vLLM engine on the new policy (the GRPO rollout
sampler and settings, its seed offset by the round). A response becomes a solution by splitting it at
the step delimiter (empty responses are skipped and counted). Labels:
- outcome: the rule-based grader's verdict on the final answer, given to every step;
- process: Math-Shepherd hard/soft labels (`training.rl.math_shepherd`), the new policy completing
  (program-of-thought policies: `iterative.shepherd.style = "pot"`, completed programs run in the sandbox).
"""

from __future__ import annotations

import dataclasses
import random

from evaluation.grading import Grader
from evaluation.sandbox import SandboxPool
from mathforge.log import get_logger
from training.rl.iterative import IterativeRLConfig, round_dir
from training.rl.math_shepherd import label_solutions, make_labelling_backend
from training.rl.prompts import load_items, prompt_text
from training.rl.rewards import RuleBasedReward
from training.rl.step_labels import LabelledSolution

log = get_logger(__name__)


def sample_new_policy(cfg: IterativeRLConfig, r: int) -> list[LabelledSolution]:
    """Labelled solutions of round r's new policy (`round_r/grpo/hf`)."""
    from training.rl.rollout import VLLMRolloutEngine

    it = cfg.iterative
    policy = round_dir(cfg, r) / "grpo" / "hf"
    items = load_items(cfg.grpo.prompts)
    items = random.Random(f"{it.seed}/{r}").sample(items, min(it.questions, len(items)))
    rollout = dataclasses.replace(cfg.grpo.rollout, group_size=it.samples_per_question, seed=cfg.grpo.rollout.seed + r,
                                  max_model_len=cfg.grpo.rollout.max_model_len or cfg.grpo.model.seq_length)
    engine = VLLMRolloutEngine(rollout, str(policy))
    try:
        rollouts = engine.generate(items, [prompt_text(i, cfg.grpo.prompts.style) for i in items], step=0)
    finally:
        engine.close()
    delimiter = cfg.rm.data.step_delimiter
    kept = [(ro, [s for s in ro.response.split(delimiter) if s.strip()]) for ro in rollouts]
    kept = [(ro, steps) for ro, steps in kept if steps]
    if len(kept) < len(rollouts):
        log.warning("round %d: %d of %d sampled responses are empty: skipped", r, len(rollouts) - len(kept), len(rollouts))
    if it.reward_kind == "outcome":
        grader = RuleBasedReward(cfg.grpo.reward.rule, cfg.grpo.grading, cfg.grpo.prompts.style, cfg.grpo.sandbox)
        try:
            verdicts = grader.correct([ro for ro, _ in kept])
        finally:
            grader.close()
        return [LabelledSolution(ro.item.question, tuple(steps), (1.0 if ok else 0.0,) * len(steps), ro.item.answer,
                                 f"round{r}/{ro.item.item_id}/{n}")
                for n, ((ro, steps), ok) in enumerate(zip(kept, verdicts, strict=True))]
    backend = make_labelling_backend(it.backend, str(policy), it.shepherd)
    grader_ = Grader(cfg.grpo.grading)
    sandbox = SandboxPool(cfg.grpo.sandbox) if it.shepherd.style == "pot" else None
    try:
        labelled, stats = label_solutions([(ro.item, steps) for ro, steps in kept], backend, it.shepherd, grader_,
                                          sandbox)
    finally:
        grader_.close()
        backend.close()
        if sandbox is not None:
            sandbox.close()
    log.info("round %d: Math-Shepherd labels for %d steps at %.1f steps/s", r, stats.steps, stats.steps_per_s)
    return [dataclasses.replace(s, source=f"round{r}/{s.source}") for s in labelled]
