"""The model card and the decision report as files a person opens: every image decodes, nothing
is fetched from elsewhere, and the card says what it must (data, grid, scores, slices, lineage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from trainer import card, metrics, page, plots, report

from tests.helpers.figures import browser_image_sizes, page_images, page_links
from tests.unit.test_plots import LABELS, importance, scores
from tests.unit.test_promote_gate import curves, record

LABELS_CENSUS = LABELS["census"]


def holdout_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    sex = rng.random(n) < 0.33
    race = rng.choice(["White", "Black", "Other"], size=n, p=[0.85, 0.1, 0.05])
    return pd.DataFrame(
        {
            "age": rng.integers(17, 90, n).astype(float),
            "sex_Female": sex.astype(float),
            "sex_Male": (~sex).astype(float),
            **{f"race_{v}": (race == v).astype(float) for v in ("White", "Black", "Other")},
        }
    )


def fit(tmp: Path) -> card.Fit:
    y, proba = scores()
    frame = holdout_frame(len(y))
    manifest = {
        "uri": "gs://bucket/runs/x/preprocess/features.json", "dataset": "census", "target": "never_married",
        "target_labels": list(LABELS_CENSUS), "source": "bigquery://p.ml_datasets.census_adult_income",
        "input_uri": "gs://bucket/runs/x/extract/census.parquet", "input_sha256": "a" * 64,
        "train_sha256": "b" * 64, "test_sha256": "c" * 64, "rows": {"train": 12000, "test": len(y)},
        "positive_rate": 0.3278, "features": list(frame.columns), "slice_by": ["sex", "race"],
        "seed": 55, "test_size": 0.2,
    }  # fmt: skip
    labels = plots.class_labels(manifest, "never_married")
    report_ = metrics.at_threshold(y, proba, labels)
    made = card.Fit(
        model="lgbm", description="LightGBM gradient-boosted trees", run_id="r" * 32,
        run_name="lgbm full · data aaaaaa · 12-06 04:49Z", experiment="census", grid="full",
        subgrids=[{"learning_rate": [0.01, 0.05, 0.1], "n_estimators": [50, 100, 150]}], search="grid",
        cv=5, n_candidates=9, n_fits=45, n_model_fits=15,
        best_params={"learning_rate": 0.1, "n_estimators": 100},
        cv_mean=0.8937, cv_std=0.004, search_seconds=50.9, refit_seconds=1.2, converged=True,
        scores=metrics.holdout(y, proba), report=report_, labels=labels, manifest=manifest,
        slices=card.slice_metrics(y, proba, frame, ["sex", "race"], 0.5),
        lineage={"stage_image": "census-pipeline/trainer:0.1.0", "airflow.dag_id": "mlflow-multimodel-dag",
                 "airflow.run_id": "manual__1", "airflow.task_id": "train.lgbm", "airflow.try_number": "1"},
        trainer_version="0.1.0",
    )  # fmt: skip
    for alt, fig in (
        ("ROC", plots.roc_curve(y, proba, made.scores["roc_auc"], "lgbm", labels)),
        ("PR", plots.pr_curve(y, proba, made.scores["pr_auc"], "lgbm", labels)),
        ("confusion", plots.confusion_matrix(y, (proba >= 0.5).astype(int), labels)),
        ("importance", plots.feature_importance(importance(), labels[1])),
    ):
        made.plots.append((alt, page.png_bytes(fig)))
    return made


def test_model_card_file_has_every_image_and_fact(tmp_path: Path) -> None:
    made = fit(tmp_path)
    path = tmp_path / card.ARTIFACT
    path.write_text(card.render(made), encoding="utf-8")
    images = page_images(path)
    assert len(images) == 4 and all(w >= 400 and h >= 400 for _, (w, h) in images), images
    assert page_links(path) == [], "the card must not fetch anything (MLflow's sandboxed frame)"
    text = path.read_text()
    for fact in (
        "bigquery://p.ml_datasets.census_adult_income", "a" * 64, "c" * 64, "12,000",
        "32.8% in all rows", "0.01, 0.05, 0.1", "learning_rate=0.1, n_estimators=100",
        "0.8937 ± 0.0040", "never married", "ever married", "census-pipeline/trainer:0.1.0",
        "DAG mlflow-multimodel-dag, run manual__1, task train.lgbm", "Female", "Black",
    ):  # fmt: skip
        assert fact in text, fact
    by_value = {s["value"]: s for s in made.slices}
    assert set(by_value) == {"Female", "Male", "White", "Black", "Other"}
    assert sum(by_value[v]["rows"] for v in ("Female", "Male")) == made.manifest["rows"]["test"]
    assert all(s["roc_auc"] is None or 0.5 < s["roc_auc"] <= 1 for s in made.slices)


def test_decision_report_file_has_every_image(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(report.render(record(promoted=True), curves()), encoding="utf-8")
    assert len(page_images(path)) == 3 and page_links(path) == []


def test_a_real_browser_loads_every_image(tmp_path: Path) -> None:
    """Headless Chromium, where installed: each <img> of both pages has its natural size."""
    card_path = tmp_path / card.ARTIFACT
    card_path.write_text(card.render(fit(tmp_path)), encoding="utf-8")
    report_path = tmp_path / "report.html"
    report_path.write_text(report.render(record(promoted=True), curves()), encoding="utf-8")
    for path, count in ((card_path, 4), (report_path, 3)):
        sizes = browser_image_sizes(path)
        if sizes is None:
            import pytest

            pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
        assert len(sizes) == count and all(w > 300 and h > 300 for w, h in sizes), (path.name, sizes)
