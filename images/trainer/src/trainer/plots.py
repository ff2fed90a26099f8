"""Evaluation figures of one fit, drawn off-screen (Agg), named in the classes' own words.

Every text is sized for its figure whatever the dataset calls its classes: labels are wrapped
(and, past a few lines, cut with an ellipsis) to the room they have, and layout="constrained"
makes room for them. tests/unit/test_plots.py draws each figure with short, long and very long
class names and fails when two texts overlap or one leaves the figure.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

TOP_FEATURES = 20
# Characters per line at the default 10 pt: a confusion-matrix cell is ~1.3 in wide, an x-axis
# label spans ~4 in, a y-axis label ~3 in (titles: _title). Beyond MAX_LINES a label is cut; the
# full names are in the model card's tables.
CELL_CHARS, AXIS_CHARS, Y_CHARS, FEATURE_CHARS = 14, 50, 40, 40
MAX_LINES = 3


def wrap(text: str, width: int, lines: int = MAX_LINES) -> str:
    """`text` in lines of at most `width` characters, at most `lines` of them (ellipsis if cut)."""
    wrapped = [line for part in text.split("\n") for line in textwrap.wrap(" ".join(part.split()), width)]
    wrapped = wrapped or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return "\n".join(wrapped)


def class_labels(manifest: dict[str, Any], target: str) -> tuple[str, str]:
    """How people call class 0 and class 1: the manifest's target_labels (from the dataset spec).

    Manifests written before target_labels existed fall back to the target's own name.
    """
    labels = manifest.get("target_labels")
    if (
        isinstance(labels, list)
        and len(labels) == 2
        and all(isinstance(v, str) and v.strip() for v in labels)
    ):
        negative, positive = labels[0].strip(), labels[1].strip()
        if negative != positive:  # two names for one thing would merge the classes in every table
            return negative, positive
    name = target.replace("_", " ")
    return f"not {name}", name


def _title(fig: Figure, text: str, lines: int = 2) -> None:
    """A title centred on the figure (not the axes, which long tick labels push aside), wrapped to it.

    ~7.5 pt per character of the 12 pt title font, with room to spare for wide letters.
    """
    fig.suptitle(wrap(text, int(fig.get_figwidth() * 72 / 7.5), lines))


def _figure(size: tuple[float, float] = (5.5, 4.8)) -> tuple[Figure, Any]:
    # The Figure class needs no pyplot: no GUI backend, no global figure registry to leak.
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def roc_curve(y_true: Any, proba: Any, auc: float, model: str, labels: tuple[str, str]) -> Figure:
    from sklearn.metrics import roc_curve as curve

    negative, positive = labels
    fpr, tpr, _ = curve(y_true, proba)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"{model} (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.5)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.set_xlabel(wrap(f"False positive rate: share of {negative} predicted {positive}", AXIS_CHARS))
    ax.set_ylabel(wrap(f"True positive rate: share of {positive} found", Y_CHARS))
    _title(fig, f"ROC curve (holdout): {positive}")
    ax.legend(loc="lower right")
    return fig


def pr_curve(
    y_true: Any, proba: Any, average_precision: float, model: str, labels: tuple[str, str]
) -> Figure:
    from sklearn.metrics import precision_recall_curve

    positive = labels[1]
    precision, recall, _ = precision_recall_curve(y_true, proba)
    rate = float(sum(y_true)) / len(y_true)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"{model} (AP {average_precision:.4f})")
    ax.axhline(rate, linestyle="--", color="grey", label=f"chance: {rate:.1%} are {wrap(positive, 20, 1)}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.set_xlabel(wrap(f"Recall: share of {positive} found", AXIS_CHARS))
    ax.set_ylabel(wrap(f"Precision: correct share of predicted {positive}", Y_CHARS))
    _title(fig, f"Precision-recall curve (holdout): {positive}")
    ax.legend(loc="lower left")
    return fig


def confusion_matrix(y_true: Any, predicted: Any, labels: tuple[str, str], threshold: float = 0.5) -> Figure:
    """Counts and the share of each actual class, no colour bar: the numbers are in the cells."""
    import numpy as np
    from sklearn.metrics import confusion_matrix as matrix

    counts = matrix(y_true, predicted, labels=[0, 1])
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure((4.8, 4.4))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(counts):
        colour = "white" if shares[i, j] > 0.5 else "black"
        ax.text(j, i, f"{value:,}\n({shares[i, j]:.0%})", ha="center", va="center", color=colour)
    names = [wrap(label, CELL_CHARS) for label in labels]
    ax.set_xticks([0, 1], names)
    ax.set_yticks([0, 1], names, rotation=90, va="center")
    ax.tick_params(length=0)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    _title(fig, f"Confusion matrix (holdout), threshold {threshold:g}\n(%: share of the actual class)")
    return fig


def feature_importance(importance: pd.Series, positive: str) -> Figure:
    top = importance.sort_values(ascending=False).head(TOP_FEATURES)[::-1]
    fig, ax = _figure((6.5, 0.28 * len(top) + 1.6))
    ax.barh([wrap(str(name), FEATURE_CHARS, 1) for name in top.index], list(top.values))
    ax.set_xlabel(wrap(str(importance.name), AXIS_CHARS))
    _title(fig, f"Feature importance, top {len(top)}: {positive}")
    return fig
