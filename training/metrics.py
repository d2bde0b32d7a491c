"""Per-step training metrics: JSONL (the record), TensorBoard (live curves), a loss plot at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mathforge.io import atomic_path, atomic_write_text

METRICS_NAME = "metrics.jsonl"


class MetricsLog:
    """Rank 0's metrics sink; on resume, records at or after `start_step` (from the killed run) are dropped."""

    def __init__(self, run_dir: Path, start_step: int = 0):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / METRICS_NAME
        kept = [r for r in read_metrics(self.path) if r["step"] < start_step] if self.path.is_file() else []
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a", encoding="utf-8")
        self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step)

    def log(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for key, value in record.items():
            if key != "step" and isinstance(value, int | float):
                self.tensorboard.add_scalar(f"train/{key}", value, record["step"])

    def close(self) -> None:
        self.file.close()
        self.tensorboard.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss(metrics_path: Path, png_path: Path) -> Path:
    """Loss (and learning rate) against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    steps = [r["step"] for r in records]
    fig, loss_ax = plt.subplots(figsize=(7, 4))
    loss_ax.plot(steps, [r["loss"] for r in records], color="tab:blue")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss", color="tab:blue")
    lr_ax = loss_ax.twinx()
    lr_ax.plot(steps, [r["lr"] for r in records], color="tab:orange", alpha=0.6)
    lr_ax.set_ylabel("learning rate", color="tab:orange")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png_path
