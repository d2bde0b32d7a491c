"""The demo's report: a table on the terminal and RUN_DIR/report/ (report.md + PNG plots) from the stage markers.

Plots: recall per round, the top math domains (stats.duckdb), the loss curves of every training stage,
GRPO's reward (and accuracy) per step, and held-out accuracy / Pass@K / Maj@K per evaluated stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mathforge.io import atomic_path, atomic_write_text

PLOTS = ("recall.png", "domains.png", "losses.png", "grpo.png", "accuracy.png")


def terminal_table(markers: list[dict[str, Any]]) -> str:
    rows = [("stage", "produced", "key metric", "seconds")]
    rows += [(m["stage"], m["produced"], m["metric"], f"{m['seconds']:.0f}") for m in markers]
    widths = [min(max(len(r[i]) for r in rows), 70) for i in range(4)]
    lines = ["  ".join(cell[:70].ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(m["seconds"] for m in markers)
    return "\n".join(lines) + f"\n{'total':<{widths[0]}}  {'':<{widths[1]}}  {'':<{widths[2]}}  {total:.0f}"


def by_stage(markers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["stage"]: m for m in markers}


def write_report(root: Path, markers: list[dict[str, Any]]) -> Path:
    """RUN_DIR/report/report.md with its plots; returns the report's path."""
    out = root / "report"
    stages = by_stage(markers)
    plot_recall(stages, out / "recall.png")
    plot_domains(root / "corpus" / "stats.duckdb", out / "domains.png")
    plot_losses(stages, out / "losses.png")
    plot_grpo(stages, out / "grpo.png")
    plot_accuracy(stages, out / "accuracy.png")
    atomic_write_text(out / "report.md", markdown(markers))
    return out / "report.md"


def markdown(markers: list[dict[str, Any]]) -> str:
    total = sum(m["seconds"] for m in markers)
    lines = ["# mathforge demo", "", f"Every stage of the DeepSeekMath recipe on tiny data, {total / 60:.1f} minutes.",
             "", "| stage | produced | key metric | seconds |", "|---|---|---|---|"]
    lines += [f"| {m['stage']} | {m['produced']} | {m['metric']} | {m['seconds']:.0f} |" for m in markers]
    lines += ["", "## Plots", "", "![recall per round](recall.png)", "", "![top math domains](domains.png)", "",
              "![training losses](losses.png)", "", "![GRPO reward](grpo.png)", "",
              "![held-out accuracy, Pass@K, Maj@K](accuracy.png)", "", "## Held-out evaluation", ""]
    evals = [m for m in markers if m["stage"].startswith("eval-")]
    if evals:
        keys = list(evals[0]["metrics"]["headline"])
        lines += ["| after | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        lines += [f"| {m['stage'].removeprefix('eval-')} | "
                  + " | ".join(f"{m['metrics']['headline'].get(k, float('nan')):.3f}" for k in keys) + " |"
                  for m in evals]
    lines += ["", "## Each stage's command (rerun it, or the next one, by hand)", ""]
    for index, m in enumerate(markers):
        lines += [f"**{m['stage']}**: {m['what']}", "", "```", m["command"], "```"]
        outputs = ", ".join(f"{k}: `{v}`" for k, v in m.get("outputs", {}).items())
        if outputs:
            lines += [f"Outputs: {outputs}", ""]
        if index + 1 < len(markers):
            lines += [f"Next: `{markers[index + 1]['stage']}` reads these.", ""]
    return "\n".join(lines) + "\n"


def _figure(ncols: int = 1, width: float = 6.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
    return plt, fig, list(axes[0])


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def plot_recall(stages: dict[str, dict], path: Path) -> None:
    metrics = stages.get("recall", {}).get("metrics", {})
    recall, selected = metrics.get("recall_per_round", []), metrics.get("selected_per_round", [])
    plt, fig, (ax,) = _figure()
    rounds = list(range(1, len(selected) + 1))
    ax.bar(rounds, selected, color="tab:blue", alpha=0.5, label="pages selected")
    ax.set_xlabel("round")
    ax.set_ylabel("pages selected")
    twin = ax.twinx()
    twin.plot(rounds, [r if r is not None else float("nan") for r in recall], "o-", color="tab:red")
    twin.set_ylabel("recall vs ground truth", color="tab:red")
    ax.set_title("recall rounds")
    ax.set_xticks(rounds)
    _save(plt, fig, path)


def plot_domains(db: Path, path: Path, top: int = 12) -> None:
    """The last round's math domains with the most selected pages."""
    import duckdb

    rows: list[tuple[str, int, int]] = []
    if db.is_file():
        con = duckdb.connect(str(db), read_only=True)
        try:
            rows = con.execute("""SELECT domain, selected, pages FROM domains
                                  WHERE round = (SELECT max(round) FROM domains) AND is_math
                                  ORDER BY selected DESC, domain LIMIT $top""", {"top": top}).fetchall()
        finally:
            con.close()
    plt, fig, (ax,) = _figure()
    names = [r[0] for r in rows][::-1]
    ax.barh(names, [r[2] for r in rows][::-1], color="lightgray", label="pages")
    ax.barh(names, [r[1] for r in rows][::-1], color="tab:green", label="selected")
    ax.set_title("top math domains (last round)")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def plot_losses(stages: dict[str, dict], path: Path) -> None:
    names = [n for n in ("pretrain", "sft", "rm", "prm") if n in stages]
    plt, fig, axes = _figure(max(len(names), 1), 4.2)
    for ax, name in zip(axes, names, strict=False):
        loss = stages[name]["metrics"]["loss"]
        ax.plot(range(1, len(loss) + 1), loss)
        ax.set_title(f"{name} loss")
        ax.set_xlabel("step")
    _save(plt, fig, path)


def plot_grpo(stages: dict[str, dict], path: Path) -> None:
    plt, fig, (reward_ax, acc_ax) = _figure(2, 5)
    for name in ("grpo", "grpo-process"):
        metrics = stages.get(name, {}).get("metrics", {})
        if metrics.get("reward_mean"):
            reward_ax.plot(range(1, len(metrics["reward_mean"]) + 1), metrics["reward_mean"], "o-", label=name)
        if metrics.get("accuracy"):
            acc_ax.plot(range(1, len(metrics["accuracy"]) + 1), metrics["accuracy"], "o-", label=name)
    reward_ax.set_title("GRPO reward (mean over the step's outputs)")
    acc_ax.set_title("GRPO training accuracy (grader)")
    for ax in (reward_ax, acc_ax):
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    _save(plt, fig, path)


def plot_accuracy(stages: dict[str, dict], path: Path) -> None:
    evals = [(n.removeprefix("eval-"), m["metrics"]["headline"]) for n, m in stages.items() if n.startswith("eval-")]
    keys = list(evals[0][1]) if evals else []
    plt, fig, (ax,) = _figure(1, 9)
    width = 0.8 / max(len(evals), 1)
    for i, (name, headline) in enumerate(evals):
        ax.bar([k + i * width for k in range(len(keys))], [headline.get(key, 0.0) for key in keys], width, label=name)
    ax.set_xticks([k + width * (len(evals) - 1) / 2 for k in range(len(keys))], keys, fontsize=8)
    ax.set_ylabel("held-out")
    ax.set_title("accuracy (greedy), Pass@K, Maj@K after each stage")
    if evals:
        ax.legend(fontsize=8)
    _save(plt, fig, path)
