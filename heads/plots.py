"""Pictures a person would rather look at than read: the confusion matrix and the learning curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # not pyplot: files only, and the caller's backend (a notebook's inline
from sklearn.metrics import ConfusionMatrixDisplay  # plots) is left as it was; no display needed on a server

from store.printable import printable


def confusion_png(metrics: dict, path: Path, title: str) -> None:
    matrix = np.asarray(metrics["confusion_matrix"])
    names = [printable(name) for name in metrics["confusion_labels"]]  # a label's control characters shown, not drawn
    side = min(3.0 + 0.5 * len(names), 16.0)
    fig = Figure(figsize=(side + 1.5, side))
    ax = fig.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=names).plot(
        ax=ax, cmap="Blues", colorbar=True, xticks_rotation=45 if len(names) > 4 else "horizontal",
        values_format="d", include_values=len(names) <= 30)
    accuracy = metrics.get("accuracy")
    ax.set_title(f"{title}\naccuracy {accuracy:.4f} on {metrics['n']} images" if accuracy is not None else title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


DENSE_SERIES = (("", "train"), ("val_", "held-out train rows (early stopping)"),
                ("monitor_", "validation split (not used for stopping)"))


def learning_curves_png(history: dict[str, list[float]], path: Path, title: str,
                        best_epoch: int | None = None, series=DENSE_SERIES,
                        baseline: tuple[str, dict[str, float]] | None = None) -> None:
    """Loss and accuracy per epoch, one line per (history key prefix, label) of `series`
    (a dense head: train rows, held-out train rows (early stopping), validation split);
    `baseline` (label, {"loss": ..., "accuracy": ...}) draws a level to compare with."""
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in series:
            values = history.get(f"{prefix}{metric}")
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker="." if len(values) < 60 else None,
                        label=label)
        if baseline is not None and baseline[1].get(metric) is not None:
            ax.axhline(baseline[1][metric], color="grey", linestyle=":", linewidth=1, label=baseline[0])
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
