"""Evaluation figures, drawn off-screen (Agg) and returned for mlflow.log_figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

TOP_FEATURES = 20


def _figure(size: tuple[float, float] = (5.5, 4.5)) -> tuple[Figure, Any]:
    # The Figure class needs no pyplot: no GUI backend, no global figure registry to leak.
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def roc_curve(y_true: Any, proba: Any, auc: float, label: str) -> Figure:
    from sklearn.metrics import roc_curve as curve

    fpr, tpr, _ = curve(y_true, proba)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"{label} (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC = 0.5)")
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        title="ROC curve (holdout)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right")
    return fig


def pr_curve(y_true: Any, proba: Any, average_precision: float, label: str) -> Figure:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, proba)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"{label} (AP = {average_precision:.4f})")
    ax.axhline(float(sum(y_true)) / len(y_true), linestyle="--", color="grey", label="positive rate")
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        title="Precision-recall curve (holdout)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower left")
    return fig


def confusion_matrix(y_true: Any, predicted: Any, labels: tuple[str, str]) -> Figure:
    import numpy as np
    from sklearn.metrics import confusion_matrix as matrix

    counts = matrix(y_true, predicted, labels=[0, 1])
    fig, ax = _figure((4.5, 4))
    image = ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        colour = "white" if value > counts.max() / 2 else "black"
        ax.text(j, i, f"{value:,}", ha="center", va="center", color=colour)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=labels, yticklabels=labels)
    ax.set(xlabel="Predicted", ylabel="Actual", title="Confusion matrix (holdout, threshold 0.5)")
    fig.colorbar(image, ax=ax)
    return fig


def feature_importance(importance: pd.Series) -> Figure:
    top = importance.sort_values(ascending=False).head(TOP_FEATURES)[::-1]
    fig, ax = _figure((6.5, 0.28 * len(top) + 1.2))
    ax.barh(list(top.index), list(top.values))
    ax.set(xlabel=str(importance.name), title=f"Feature importance (top {len(top)})")
    return fig
