"""Holdout metrics from predicted probabilities."""

from __future__ import annotations

import re
from typing import Any

HEADLINE = ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1")


def holdout(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """The headline metrics plus the classification report flattened as report.<class>.<metric>."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        classification_report,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    predicted = (proba >= threshold).astype(int)
    out = {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
    }
    report = classification_report(y_true, predicted, output_dict=True, zero_division=0)
    for label, values in report.items():
        key = re.sub(r"[^0-9A-Za-z]+", "_", str(label)).strip("_")
        if isinstance(values, dict):
            for metric, value in values.items():
                out[f"report.{key}.{re.sub(r'[^0-9A-Za-z]+', '_', metric)}"] = float(value)
        else:
            out[f"report.{key}"] = float(values)
    return out
