"""The record of a training run (per-epoch metrics, monitor samples) and its training-curve plot.

User-level library: may import anything from graphnn; matplotlib is imported only to plot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """Per-epoch records (`epochs`) and per-step monitor samples (`monitors`); `h["val_loss"]` is a list."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    monitors: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def __getitem__(self, key: str) -> list[float]:
        if not any(key in e for e in self.epochs):
            raise KeyError(f"{key!r}: history has {sorted({k for e in self.epochs for k in e})}")
        return [e.get(key, float("nan")) for e in self.epochs]

    def keys(self) -> list[str]:
        """The metric names recorded per epoch."""
        seen: dict[str, None] = {}
        for e in self.epochs:
            seen.update(dict.fromkeys(e))
        return list(seen)

    def monitor(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one monitor series, e.g. `dead_relu/seq/relu`."""
        pts = [(m["step"], m[key]) for m in self.monitors if key in m]
        return [int(s) for s, _ in pts], [v for _, v in pts]

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "monitors": self.monitors, "stopped_early": self.stopped_early,
                "best_epoch": self.best_epoch}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> History:
        return History(list(d.get("epochs", [])), list(d.get("monitors", [])), bool(d.get("stopped_early")),
                       d.get("best_epoch"))

    def plot(self, path: str) -> str:
        """Draw the training curves (and monitors) to a PNG at `path`; returns the path."""
        return plot_history(self, path)


def append_jsonl(log_dir: str | None, fname: str, record: dict) -> None:
    """Append one JSON line to `log_dir/fname` (no-op without a log directory)."""
    if not log_dir:
        return
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, fname), "a") as f:
        f.write(json.dumps(record) + "\n")


def plot_history(history: History, path: str) -> str:
    """Loss, other metrics, learning rate and each monitor family in one PNG figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [k for k in history.keys() if not k.startswith("val_") and k not in ("epoch", "lr", "seconds")]
    families = sorted({k.split("/", 1)[0] for m in history.monitors for k in m if k not in ("step", "epoch")})
    panels = metrics + (["lr"] if "lr" in history.keys() else []) + families
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * max(len(panels), 1)), squeeze=False)
    epochs = [e.get("epoch", i + 1) for i, e in enumerate(history.epochs)]
    for ax, name in zip(axes[:, 0], panels):
        if name in families:
            keys = sorted({k for m in history.monitors for k in m if k.split("/", 1)[0] == name})
            for k in keys:
                steps, vals = history.monitor(k)
                ax.plot(steps, vals, label=k.split("/", 1)[1] if "/" in k else k)
            ax.set_xlabel("step")
        else:
            ax.plot(epochs, history[name], marker=".", label=name)
            if f"val_{name}" in history.keys():
                ax.plot(epochs, history[f"val_{name}"], marker=".", label=f"val_{name}")
            ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
