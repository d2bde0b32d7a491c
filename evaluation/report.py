"""Report files of an evaluation run: results.json, report.md (a table a person reads) and pass_maj.png."""

from __future__ import annotations

import json
from pathlib import Path

from mathforge.io import atomic_path, atomic_write_text


def markdown_table(results: dict) -> str:
    """One row per benchmark and style: accuracy, Pass@K and Maj@K at the largest K."""
    lines = ["| benchmark | style | questions | samples | accuracy | pass@k | maj@k |", "|---|---|---|---|---|---|---|"]
    for key, row in sorted(results["benchmarks"].items()):
        benchmark, style = key.split("/")
        if not row["questions"]:
            lines.append(f"| {benchmark} | {style} | 0 | - | - | - | - |")
            continue
        n = row["samples"]
        lines.append(
            f"| {benchmark} | {style} | {row['questions']} | {n} | {100 * row['accuracy_first_sample']:.1f} | "
            f"{100 * row['pass_at_k'][str(n)]:.1f} (k={n}) | {100 * row['maj_at_k'][str(n)]:.1f} (k={n}) |"
        )
    return "\n".join(lines) + "\n"


def plot_pass_maj(results: dict, path: Path) -> bool:
    """Pass@K and Maj@K against K for each benchmark/style; False (no file) when every run has one sample."""
    rows = {k: r for k, r in results["benchmarks"].items() if r.get("samples", 0) > 1}
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for key, row in sorted(rows.items()):
        ks = [int(k) for k in row["pass_at_k"]]
        axes[0].plot(ks, [100 * v for v in row["pass_at_k"].values()], marker="o", label=key)
        axes[1].plot(ks, [100 * v for v in row["maj_at_k"].values()], marker="o", label=key)
    all_ks = sorted({int(k) for row in rows.values() for k in row["pass_at_k"]})
    for ax, title in zip(axes, ("Pass@K", "Maj@K"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_ks, [str(k) for k in all_ks])
        ax.set_ylim(0, 100)
        ax.set_xlabel("K")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% of questions")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True


def write_report(results: dict, run_dir: Path) -> dict[str, Path]:
    """Write the report files into run_dir (atomically); returns their paths by kind."""
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": run_dir / "results.json", "markdown": run_dir / "report.md"}
    atomic_write_text(files["json"], json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    header = f"# Evaluation of `{results['model']}`\n\nSkipped records: {len(results.get('skipped', []))}\n\n"
    counts = results.get("grading_counts", {})
    header += (f"Grading: {counts.get('symbolic', 0)} pairs to math-verify, {counts.get('timeout', 0)} timed out, "
               f"{counts.get('killed', 0)} in a killed worker, {counts.get('too_long', 0)} too long "
               "(all of these graded wrong)\n\n")
    if results.get("sandbox_isolation_summary"):
        header += (f"Sandbox: {results['sandbox_isolation_summary']}; failed output conversions: "
                   f"{results.get('latex_failures') or 'none'}\n\n")
    atomic_write_text(files["markdown"], header + markdown_table(results))
    if plot_pass_maj(results, run_dir / "pass_maj.png"):
        files["plot"] = run_dir / "pass_maj.png"
    return files
