"""The demo's stages: each is a real mathforge command on its tiny config with the demo's chaining overrides.

    crawl -> recall (dedup, rounds, stats.duckdb, annotation, decontaminated Parquet) -> tokenizer
    -> pretrain (the recall corpus + generated arithmetic and worked problems) -> pretrain-export -> eval-pretrain
    -> sft-data -> sft -> eval-sft -> rm-data -> rm (outcome) -> grpo (outcome RM + rule) -> eval-grpo
    [-> prm -> grpo-process -> eval-grpo-process]   (process.enabled)

A `Stage` is data: the command (`argv`, as a user types it after `mathforge`), what it owns in the run
folder, an optional in-process `prepare` that writes the command's inputs (generated documents, the
held-out benchmark file, reward-model data), `collect` that reads what the command wrote into the
stage's figures, and `progress` (a short live status). `mathforge.demo_runner` runs them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathforge.config import ConfigError, load_config
from mathforge.config import toml_string as q
from mathforge.demo_config import REPO, DemoConfig
from mathforge.io import atomic_write_text

HELDOUT_BENCHMARK = "synthetic_heldout"


class StageFailed(RuntimeError):
    """A stage's command failed or stopped early; the message names the stage and what to do."""


@dataclass
class Stage:
    name: str
    what: str  # what the stage produces, one line
    argv: list[str] | None  # `mathforge ...` arguments (None: `prepare` is the whole stage)
    owns: list[Path]  # outputs, removed by `mathforge demo --redo`
    collect: Callable[[], dict[str, Any]]  # {"produced", "metric", "outputs", "metrics"}
    prepare: Callable[[], None] | None = None
    progress: Callable[[], str] = lambda: ""
    distributed: bool = False  # a training-core stage: torchrun (Slurm: training/launch/pretrain.sbatch)
    module: str = "mathforge.cli"  # the python module argv runs under
    extra: dict[str, Any] = field(default_factory=dict)

    def command(self) -> str:
        """The command line a user types to run (or resume) this stage by hand."""
        import shlex

        head = "mathforge" if self.module == "mathforge.cli" else f"python -m {self.module}"
        return f"{head} {shlex.join(self.argv)}" if self.argv is not None else f"(in-process) {self.what}"


class DemoPlan:
    """Paths of a run folder and the stages that fill it."""

    def __init__(self, cfg: DemoConfig, root: Path, config_path: Path, config_overrides: list[str]):
        from training.sft.stage import SFTConfig

        self.cfg, self.root = cfg, root.resolve()
        self.config_path, self.config_overrides = config_path, config_overrides
        self.sft_cfg = load_config(SFTConfig, cfg.sft.path(), cfg.sft.overrides)
        sources = [s for s in self.sft_cfg.build.sources if s.kind == "synthetic"]
        if not sources:
            raise ConfigError(f"{cfg.sft.path()}: the demo needs a synthetic [[build.sources]] (its held-out split "
                              "is the evaluation set, its training items the GRPO questions)")
        self.synthetic = sources[0]

    def p(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # --- shared inputs -------------------------------------------------------------------------
    def heldout_items(self) -> list:
        from training.sft.synthetic import heldout_split

        _, test = heldout_split(self.synthetic.count, self.synthetic.heldout, self.synthetic.seed)
        return test

    def train_items(self) -> list:
        from training.sft.synthetic import heldout_split

        train, _ = heldout_split(self.synthetic.count, self.synthetic.heldout, self.synthetic.seed)
        return train

    def model_overrides(self) -> list[str]:
        """The SFT model's shape: a reward model or policy must equal the checkpoint it starts from."""
        from dataclasses import fields

        return [f"model.{f.name}={json.dumps(getattr(self.sft_cfg.model, f.name))}"
                for f in fields(self.sft_cfg.model) if isinstance(getattr(self.sft_cfg.model, f.name), int | float)
                and not isinstance(getattr(self.sft_cfg.model, f.name), bool)]

    # --- stages --------------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        from mathforge import demo_training

        out = [*self.corpus_stages(), *demo_training.training_stages(self)]
        if self.cfg.process.enabled:
            out += demo_training.process_stages(self)
        return out

    def corpus_overrides(self) -> list[str]:
        crawl = self.p("crawl")
        decontam = [f"{{path = {q(crawl / 'benchmark' / 'sample_bench.jsonl')}, name = {q('sample_bench')}}}",
                    f"{{path = {q(self.p('benchmarks', HELDOUT_BENCHMARK + '.jsonl'))}, name = {q(HELDOUT_BENCHMARK)}}}"]
        out = [f"run_dir={q(self.p('corpus'))}", f"sample.output_dir={q(crawl)}",
               f"seed_corpus={q(crawl / 'seed' / 'seed.parquet')}", f"ground_truth={q(crawl / 'truth')}",
               f"read.input={q(crawl / 'crawl')}", f"decontam.jsonl=[{', '.join(decontam)}]",
               f"recall.annotations={q(REPO / 'configs' / 'tiny' / 'recall_annotations.toml')}"]
        if self.cfg.executor == "slurm":
            out += ["executor.kind='slurm'", f"executor.venv_path={q(Path(self.cfg.slurm.venv_activate).resolve())}"]
        return out + self.cfg.corpus.overrides

    def corpus_stages(self) -> list[Stage]:
        config = str(self.cfg.corpus.path())
        args = self.corpus_overrides()
        crawl = Stage("crawl", "a generated crawl: WARC.gz shards, seed pages, ground truth, a benchmark file",
                      ["corpus", "make-sample", config, *args], [self.p("crawl"), self.p("benchmarks")],
                      self.collect_crawl, prepare=self.write_heldout_benchmark)
        recall = Stage("recall", "dedup, fastText recall rounds, stats.duckdb, URL annotation, decontaminated Parquet",
                       ["corpus", "recall", config, *args], [self.p("corpus")], self.collect_recall,
                       progress=lambda: f"{len(list(self.p('corpus', 'rounds').glob('*/round.json')))} rounds done")
        return [crawl, recall]

    def write_heldout_benchmark(self) -> None:
        """The evaluation set as a benchmark file, so that the corpus is decontaminated against it too."""
        rows = "".join(json.dumps({"id": i.item_id, "question": i.question, "answer": i.answer}, ensure_ascii=False)
                       + "\n" for i in self.heldout_items())
        atomic_write_text(self.p("benchmarks", HELDOUT_BENCHMARK + ".jsonl"), rows)

    def collect_crawl(self) -> dict[str, Any]:
        crawl = self.p("crawl")
        shards = sorted((crawl / "crawl").glob("*.warc.gz"))
        import pyarrow.parquet as pq

        seed = pq.read_metadata(crawl / "seed" / "seed.parquet").num_rows
        mb = sum(s.stat().st_size for s in shards) / 1e6
        return {"produced": f"{len(shards)} WARC shards ({mb:.1f} MB), {seed} seed pages",
                "metric": "", "outputs": {"crawl": str(crawl / "crawl"), "seed": str(crawl / "seed")},
                "metrics": {"shards": len(shards), "seed_pages": seed}}

    def collect_recall(self) -> dict[str, Any]:
        summary = json.loads(self.p("corpus", "summary.json").read_text())
        rounds = summary["rounds"]
        recall = [(r.get("vs_ground_truth") or {}).get("recall") for r in rounds]
        metric = f"recall {recall[0]:.3f} -> {recall[-1]:.3f} over {len(rounds)} rounds" if None not in recall else ""
        return {"produced": f"{summary['written']} decontaminated pages ({summary['removed_by_decontamination']} "
                            f"removed), {summary['dedup']['near_duplicates']} near-duplicates dropped",
                "metric": metric,
                "outputs": {"corpus": summary["output"], "stats": summary["stats"],
                            "report": str(self.p("corpus", "recall_report.md"))},
                "metrics": {"recall_per_round": recall, "selected_per_round": [r["selected_pages"] for r in rounds],
                            "written": summary["written"], "removed_by_decontamination":
                            summary["removed_by_decontamination"], "dedup": summary["dedup"],
                            "stopped": summary["stopped"]}}

    def corpus_dir(self) -> Path:
        marker = self.p("stages", "recall.json")
        if marker.is_file():
            return Path(json.loads(marker.read_text())["outputs"]["corpus"])
        return self.p("corpus", "corpus")  # until recall has run: only for the command shown


def python_module_argv(stage: Stage) -> list[str]:
    assert stage.argv is not None
    return [sys.executable, "-m", stage.module, *stage.argv]
