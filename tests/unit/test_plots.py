"""Every figure people look at, drawn with short, long and very long class names: no text may
overlap another or leave the figure (extents after a real Agg draw, tests/helpers/figures.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from trainer import plots, report

from tests.helpers.figures import overlapping_text

LABELS = {
    "short": ("no", "yes"),
    "census": ("ever married", "never married"),
    "income": ("income <=50K", "income >50K"),
    "long": (
        "people who were married at least once before the census",
        "people who had never been married at the time of the census",
    ),
    "very long": (
        "a class name far longer than any axis: " + "word " * 40,
        "Pneumonoultramicroscopicsilicovolcanoconiosis_and_then_some_more_without_any_space_at_all",
    ),
}


def scores(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.33).astype(int)
    proba = 1 / (1 + np.exp(-(2.5 * y - 1.2 + rng.normal(size=n))))
    return y, proba


def importance() -> pd.Series:
    names = [f"feature_{i}" for i in range(30)] + ["native_country_Outlying_US_Guam_USVI_etc_and_a_long_tail"]
    return pd.Series(np.linspace(1, 50, len(names)), index=names, name="gain importance")


@pytest.mark.parametrize("name", list(LABELS))
def test_fit_plots_keep_every_text_apart_and_inside(name: str) -> None:
    labels = LABELS[name]
    y, proba = scores()
    figures = {
        "roc": plots.roc_curve(y, proba, 0.8985, "lgbm", labels),
        "pr": plots.pr_curve(y, proba, 0.8384, "lgbm", labels),
        "confusion": plots.confusion_matrix(y, (proba >= 0.5).astype(int), labels),
        "importance": plots.feature_importance(importance(), labels[1]),
    }
    for kind, fig in figures.items():
        assert overlapping_text(fig) == [], (kind, name)


@pytest.mark.parametrize("name", list(LABELS))
def test_decision_report_plots_keep_every_text_apart_and_inside(name: str) -> None:
    from tests.unit.test_promote_gate import record

    y, proba = scores()
    champion = np.clip(proba + np.random.default_rng(1).normal(0, 0.1, len(y)), 0, 1)
    curves = report.Curves(y, proba, "candidate (logreg)", champion, "champion v3 (lgbm)", LABELS[name])
    for alt, fig in report.figures(record(n_slices=16), curves):
        assert overlapping_text(fig) == [], (alt, name)


def test_the_confusion_matrix_names_the_classes_as_people_do() -> None:
    y, proba = scores()
    fig = plots.confusion_matrix(y, (proba >= 0.5).astype(int), LABELS["census"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ever married", "never married"]
    assert not any("not " in t.get_text() for t in ax.get_yticklabels())
    assert len(fig.axes) == 1, "a colour bar is back (it covered the title)"


def test_class_labels_come_from_the_manifest() -> None:
    assert plots.class_labels({"target_labels": ["female", "male"]}, "male") == ("female", "male")
    assert plots.class_labels({}, "never_married") == ("not never married", "never married")
    assert plots.class_labels({"target_labels": ["", "x"]}, "t") == ("not t", "t")
