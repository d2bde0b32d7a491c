"""The one training loop. Every stage (pretraining, SFT, reward models, GRPO) is a `Stage` that `run`
drives; a stage only says which micro-batches step k trains on, under which `Objective`, at which LR.

    def make_stage(run: Run) -> Stage:           # called inside the process groups, model ready
        ...
        return Stage(name="sft", total_steps=T, batches=step_batches, objective=NextToken(),
                     lr=lambda step: 5e-5)

    summary = loop.run(cfg, make_stage)          # cfg: .model, .parallel, .optimizer, .train (RunConfig)

What `run` does, in order:
1. process groups (`training.parallel.distributed`); rank 0 writes the resolved config to `train.run_dir`;
2. this rank's model (`training.model.build_model`); a fresh run starts from `train.init_from_hf`
   (a Llama folder) or `train.init_from_checkpoint` (a training-core checkpoint or run folder, any
   TP/PP layout: megatron reshards it); megatron DDP + optimizer (`training.step`);
3. `make_stage(run)` (it may keep `run.model`, e.g. to sync weights into a rollout engine), then the
   resume from the run's latest checkpoint (model, optimizer, RNG; the step to continue from);
4. steps start..total_steps-1: `stage.before_step(k)` (extra metrics; GRPO's rollouts go here),
   `train_step` on `stage.batches(k)`, one metrics record (JSONL + TensorBoard), an atomic checkpoint
   every `train.save_every` steps, at the end and on a scheduler's stop signal (then it returns with
   `stopped_at`); a NaN/inf loss raises `TrainingStopped` without applying the step;
5. a complete run: HF export of the final checkpoint (`run_dir/hf`, tokenizer from
   `stage.tokenizer_dir`) and the loss plot.

The data position is the step: `stage.batches(k)` must return step k's micro-batches deterministically
(this rank's share), so a resumed run trains on exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import torch.distributed as dist

from mathforge.config import ConfigError, save_resolved_config
from mathforge.log import get_logger, progress
from training import checkpoint, hf_checkpoint
from training.metrics import METRICS_NAME, MetricsLog, plot_loss
from training.model import ModelConfig, build_model, flops_per_token
from training.objectives import Batch, Objective
from training.parallel import ParallelConfig, distributed
from training.preemption import StopRequest
from training.step import NonFiniteLossError, OptimizerConfig, build_optimizer, train_step, wrap_model

log = get_logger(__name__)


@dataclass
class RunConfig:
    """What every stage's `[train]` table has; a stage's own config subclasses it."""

    run_dir: Path = Path("runs/run")
    seed: int = 1234
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    save_every: int = 100  # steps; 0 saves only at the end
    keep_checkpoints: int = 3  # newest checkpoints kept (a 7B one is ~110 GB with AdamW states); 0 keeps all
    init_from_hf: Path | None = None  # a fresh run starts from this Llama-format checkpoint ...
    init_from_checkpoint: Path | None = None  # ... or from this training-core checkpoint (or run folder)
    export_hf: bool = True  # write run_dir/hf (with the tokenizer) at the end
    peak_tflops: float = 989.0  # per accelerator, for MFU (H100 SXM dense bf16)


class StageConfig(Protocol):
    model: ModelConfig
    parallel: ParallelConfig
    optimizer: OptimizerConfig
    train: RunConfig


@dataclass
class Run:
    """What `make_stage` gets: the run's config and this rank's DDP-wrapped model and optimizer."""

    cfg: Any
    model: Any
    optimizer: Any
    bf16: bool


@dataclass
class Stage:
    name: str  # progress label
    total_steps: int
    batches: Callable[[int], list[Batch | torch.Tensor]]  # step -> this rank's micro-batches
    objective: Objective
    lr: Callable[[int], float]  # step -> learning rate
    before_step: Callable[[int], dict[str, float]] | None = None  # step -> extra metrics for its record
    checkpoint_meta: Callable[[int], dict[str, Any]] | None = None  # steps done -> extra meta.json fields
    tokenizer_dir: Path | None = None  # copied into the HF export


class TrainingStopped(RuntimeError):
    """The run stopped early (non-finite loss); the message names the step and the last good checkpoint."""


def use_bf16(precision: str) -> bool:
    if precision == "bf16" and not torch.cuda.is_available():
        # megatron's schedules autocast with device "cuda": on CPU that would silently train in fp32
        raise ConfigError("train.precision = 'bf16' needs a GPU; use 'auto' or 'fp32' on CPU")
    return precision == "bf16" or (precision == "auto" and torch.cuda.is_available())


def run(cfg: StageConfig, make_stage: Callable[[Run], Stage],
        adapt_model: Callable[[torch.nn.Module], None] | None = None) -> dict:
    """Run (or resume) a stage under torchrun or as one process. Returns a summary on every rank.

    `adapt_model` (reward models: swap the LM head for a scalar head) changes this rank's freshly built
    model after a fresh run's initial weights, before the resume and DDP."""
    train = cfg.train
    if train.init_from_hf is not None and train.init_from_checkpoint is not None:
        raise ConfigError("set at most one of train.init_from_hf and train.init_from_checkpoint")
    bf16 = use_bf16(train.precision)
    logging.getLogger("megatron").setLevel(max(logging.WARNING, log.getEffectiveLevel()))  # per-dataset chatter
    with distributed(cfg.parallel, train.seed):
        from megatron.core import parallel_state as ps

        if dist.get_rank() == 0:
            train.run_dir.mkdir(parents=True, exist_ok=True)
            save_resolved_config(cfg, train.run_dir)
        model = build_model(
            cfg.model, bf16=bf16, tp=cfg.parallel.tensor, pp=cfg.parallel.pipeline,
            pre_process=ps.is_pipeline_first_stage(), post_process=ps.is_pipeline_last_stage(),
        )
        folder = checkpoint.latest(train.run_dir)
        if folder is None:
            _initialise(cfg, model)
        if adapt_model is not None:
            adapt_model(model)
        model = wrap_model(model, cfg.optimizer)
        optimizer = build_optimizer(model, cfg.optimizer)
        stage = make_stage(Run(cfg, model, optimizer, bf16))
        start = _resume(folder, model, optimizer, stage.total_steps) if folder is not None else 0
        last_saved, stopped_at = _steps(cfg, stage, model, optimizer, start)
        return _finish(cfg, stage, last_saved, stopped_at)


def _steps(cfg: StageConfig, stage: Stage, model, optimizer, start: int) -> tuple[Path | None, int | None]:
    """Steps `start`..total-1 with metrics and checkpoints; (last checkpoint, step a stop signal ended at)."""
    train, total, rank0 = cfg.train, stage.total_steps, dist.get_rank() == 0
    metrics = MetricsLog(train.run_dir, start) if rank0 else None
    flops = flops_per_token(cfg.model)
    last_saved = checkpoint.latest(train.run_dir)
    report_every = max(1, total // 20)
    steps = range(start, total)
    stop = StopRequest()
    try:
        for step in progress(steps, stage.name, total=len(steps), unit="step") if rank0 else steps:
            began = time.perf_counter()
            extra = stage.before_step(step) if stage.before_step else {}
            lr = stage.lr(step)
            batches = stage.batches(step)
            try:
                result = train_step(model, optimizer, batches, lr, stage.objective)
            except NonFiniteLossError as exc:
                raise TrainingStopped(
                    f"step {step}: {exc}; stopped without applying it. Last good checkpoint: {last_saved}"
                ) from exc
            seconds = time.perf_counter() - began
            tokens = _global_tokens(batches)
            if metrics:
                metrics.log(_record(step, lr, result, seconds, tokens, flops, train.peak_tflops) | extra)
                if step % report_every == 0 or step == total - 1:
                    log.info("%s step %d/%d loss %.4f lr %.3g grad-norm %.3f %.0f tokens/s", stage.name, step,
                             total, result.loss, lr, result.grad_norm, tokens / seconds)
            done = step + 1
            stopping = stop.agreed()
            if stopping or done == total or (train.save_every and done % train.save_every == 0):
                meta = {**(stage.checkpoint_meta(done) if stage.checkpoint_meta else {}), "total_steps": total}
                last_saved = checkpoint.save(train.run_dir, done, model, optimizer, meta, train.keep_checkpoints)
            if stopping and done < total:
                log.warning("stop signal: saved %s after step %d of %d; rerun to resume", last_saved, done, total)
                return last_saved, done
    finally:
        stop.close()
        if metrics:
            metrics.close()
    return last_saved, None


def _finish(cfg: StageConfig, stage: Stage, last_saved: Path | None, stopped_at: int | None) -> dict:
    """Summary; for a complete run also the HF export (rank 0, from the final checkpoint) and the loss plot."""
    run_dir, rank0 = cfg.train.run_dir, dist.get_rank() == 0
    summary = {"run_dir": str(run_dir), "steps": stage.total_steps, "checkpoint": str(last_saved)}
    if stopped_at is not None:
        summary["stopped_at"] = stopped_at  # incomplete: no export
        return summary
    if cfg.train.export_hf:  # from the checkpoint's shards on disk: one host copy, no GPU memory
        if rank0:
            hf = hf_checkpoint.megatron_to_hf(checkpoint.read_full_model(last_saved, cfg.model), cfg.model)
            hf_checkpoint.save_hf(run_dir / "hf", hf, cfg.model, tokenizer_dir=stage.tokenizer_dir)
        dist.barrier()
        summary["hf"] = str(run_dir / "hf")
    if rank0:
        summary["plot"] = str(plot_loss(run_dir / METRICS_NAME, run_dir / "loss.png"))
    return summary


def _resume(folder: Path, model, optimizer, total_steps: int) -> int:
    """Continue from checkpoint `folder` (any TP/PP/DP layout); returns the step to run next."""
    meta = checkpoint.load(folder, model, optimizer)
    log.info("resumed from %s (step %d)", folder, meta["step"])
    if meta["total_steps"] != total_steps:
        log.warning("the checkpoint was written by a run of %d steps, this one has %d: the LR schedule "
                    "and the data order after the resume point differ from the original run",
                    meta["total_steps"], total_steps)
    return int(meta["step"])


def _initialise(cfg: StageConfig, model) -> None:
    """A fresh run's starting weights: a Llama-format folder, a training-core checkpoint, or the init."""
    source = cfg.train.init_from_hf
    if source is not None:
        hf_cfg, hf = hf_checkpoint.load_hf(source, seq_length=cfg.model.seq_length)
        if dataclasses.replace(hf_cfg, vocab_multiple=cfg.model.vocab_multiple) != cfg.model:
            raise ConfigError(f"train.init_from_hf {source}: config.json gives {hf_cfg}, the [model] table {cfg.model}")
        hf_checkpoint.load_into_model(model, hf_checkpoint.hf_to_megatron(hf, cfg.model), cfg.model)
        log.info("initialised from %s", source)
    elif cfg.train.init_from_checkpoint is not None:
        folder = load_model_weights(cfg.train.init_from_checkpoint, model)
        log.info("initialised from %s", folder)


def load_model_weights(path: Path, model) -> Path:
    """Collective: the model weights (not the optimizer) of a training-core checkpoint into the unwrapped
    `model`, resharded by megatron for this run's TP/PP. `path` is a checkpoint folder or a run folder
    (its latest checkpoint). Returns the checkpoint folder read."""
    from megatron.core import dist_checkpointing

    path = Path(path)
    folder = path if (path / "meta.json").is_file() else checkpoint.latest(path)
    if folder is None or not (folder / checkpoint.MODEL_OPTIM / "metadata.json").is_file():
        raise ConfigError(f"train.init_from_checkpoint {path}: neither a checkpoint folder nor a run folder "
                          "with checkpoints/latest")
    state = dist_checkpointing.load({"model": model.sharded_state_dict()}, str(folder / checkpoint.MODEL_OPTIM))
    model.load_state_dict(state["model"])
    return folder


def _global_tokens(batches: list[Batch | torch.Tensor]) -> int:
    """Sequence positions trained this step on all data-parallel ranks (this rank's times the DP size)."""
    from megatron.core import parallel_state as ps

    local = sum((b["tokens"] if isinstance(b, dict) else b)[:, 1:].numel() for b in batches)
    return local * ps.get_data_parallel_world_size()


def _record(step, lr, result, seconds, tokens, flops, peak_tflops) -> dict:
    tokens_per_s = tokens / seconds
    tflops = flops * tokens_per_s / 1e12 / dist.get_world_size()  # per accelerator / process
    record = {"step": step, "loss": result.loss, "lr": lr, "grad_norm": result.grad_norm,
              "tokens_per_s": tokens_per_s, "tflops": tflops, "seconds": seconds}
    record |= {k: v for k, v in result.metrics.items() if k != "loss"}
    if torch.cuda.is_available():
        record["mfu"] = tflops / peak_tflops
    return record
