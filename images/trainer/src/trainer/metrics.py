"""Holdout metrics from predicted probabilities.

Two kinds: the few numbers people compare across runs (`holdout`: threshold-free, logged as run
metrics and returned in return.json), and the classification report at one threshold
(`at_threshold`: accuracy, F1 and per-class precision/recall, an artifact and a table of the model
card). Logging the report's 20-odd rows as metrics buried the comparable ones in MLflow's runs list.
"""

from __future__ import annotations

from typing import Any

# The holdout metrics every run logs and returns (promote checks them against the run).
HEADLINE = ("roc_auc", "pr_auc", "log_loss")
THRESHOLD = 0.5


def holdout(y_true: Any, proba: Any) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision) and log loss: no threshold involved."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
    }


def at_threshold(
    y_true: Any, proba: Any, labels: tuple[str, str], threshold: float = THRESHOLD
) -> dict[str, Any]:
    """Accuracy, F1 of class 1 and scikit-learn's classification report, classes named as people do."""
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    predicted = (proba >= threshold).astype(int)
    report = classification_report(
        y_true, predicted, labels=[0, 1], target_names=list(labels), output_dict=True, zero_division=0
    )
    return {
        "threshold": threshold,
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "classes": {name: {k: float(v) for k, v in report[name].items()} for name in labels},
        "averages": {
            name: {k: float(v) for k, v in report[name].items()}
            for name in ("macro avg", "weighted avg")
            if name in report
        },
    }
