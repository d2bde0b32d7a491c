"""recall_report.md and recall_report.png of a recall run: what each round collected, discovered and added."""

from __future__ import annotations

from pathlib import Path

from mathforge.io import atomic_path, atomic_write_text

COLUMNS = [("round", "round"), ("threshold", "threshold"), ("selected_pages", "pages selected"),
           ("selected_tokens", "tokens selected"), ("math_domains", "math domains"),
           ("new_math_domains", "new math domains"), ("new_seed_pages", "new seed pages"),
           ("overlap_prev", "kept from previous round"), ("written", "corpus pages (decontaminated)")]


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def report_markdown(rounds: list[dict], stopped: str | None) -> str:
    truth = any("vs_ground_truth" in r for r in rounds)
    head = [name for _, name in COLUMNS] + ["classifier AUC"] + (["precision (truth)", "recall (truth)"] if truth else [])
    lines = ["# Recall rounds", "", f"Stopped: {stopped or 'not yet'}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rounds:
        cells = [_fmt(r.get(key)) for key, _ in COLUMNS] + [_fmt(r.get("classifier", {}).get("auc"))]
        if truth:
            t = r.get("vs_ground_truth", {})
            cells += [_fmt(t.get("precision")), _fmt(t.get("recall"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Per round: `rounds/<k>/` (classifier, scores, selection.json, seed_manifest.parquet, "
              "annotations.toml, seed_added.parquet, domains.parquet, path_prefixes.parquet, round.json).",
              "Query the statistics: `mathforge corpus domains RUN_DIR` or `duckdb RUN_DIR/stats.duckdb`.",
              "![recall rounds](recall_report.png)", ""]
    return "\n".join(lines)


def plot_rounds(rounds: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["round"] for r in rounds]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].bar(ks, [r["selected_pages"] for r in rounds], color="tab:blue", label="pages")
    axes[0].set_title("selected per round")
    axes[0].set_ylabel("pages")
    tokens = axes[0].twinx()
    tokens.plot(ks, [r["selected_tokens"] for r in rounds], "o-", color="tab:orange", label="tokens")
    tokens.set_ylabel("tokens")
    axes[1].bar([k - 0.2 for k in ks], [r["new_math_domains"] for r in rounds], 0.4, label="new math domains")
    axes[1].bar([k + 0.2 for k in ks], [r["new_seed_pages"] for r in rounds], 0.4, label="new seed pages")
    axes[1].set_title("discovery")
    axes[1].legend(fontsize=8)
    truth = [r.get("vs_ground_truth") for r in rounds]
    if any(truth):
        axes[2].plot(ks, [(t or {}).get("precision") for t in truth], "o-", label="precision")
        axes[2].plot(ks, [(t or {}).get("recall") for t in truth], "s-", label="recall")
        axes[2].set_ylim(0, 1.05)
        axes[2].legend(fontsize=8)
    axes[2].set_title("vs ground truth" if any(truth) else "no ground truth")
    for ax in axes:
        ax.set_xlabel("round")
        ax.set_xticks(ks)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_report(run_dir: Path, rounds: list[dict], stopped: str | None) -> None:
    atomic_write_text(run_dir / "recall_report.md", report_markdown(rounds, stopped))
    plot_rounds(rounds, run_dir / "recall_report.png")
