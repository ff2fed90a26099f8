"""The promotion gate's statistics (trainer/compare.py) against published numbers and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from trainer import compare

# pROC's worked example (Robin et al., BMC Bioinformatics 2011; pROC's tests/testthat/test-roc.test.R,
# "roc.test statistic and p are as expected with defaults"): roc.test(roc(aSAH$outcome, aSAH$wfns),
# roc(aSAH$outcome, aSAH$s100b)) on the aSAH data (113 patients, 41 with a poor outcome), DeLong's
# test for two correlated ROC curves:
PROC_Z = 2.20898359144091
PROC_P_TWO_SIDED = 0.0271757822291882
PROC_P_GREATER = 0.0135878911145941  # alternative = "greater"
PROC_CI = (0.0104061769564846, 0.174214419249478)
PROC_AUC = {"wfns": 0.823678861788618, "s100b": 0.731368563685637}
# DeLong's test depends on the scores only through their placements (structural components).
# pROC's tests/testthat/helper-deLongPlacementsCpp-expected.R lists them for aSAH, in data order:
# X for the 41 poor-outcome patients (x 144 = 2 x 72 controls) and Y for the 72 good-outcome
# ones (x 82 = 2 x 41 cases), i.e. 2 x (others outranked) + (others tied).
# fmt: off
WFNS_X = [117, 94, 128, 140, 140, 140, 140, 94, 140, 94, 37, 94, 140, 128, 128, 94, 140, 140, 140,
          94, 140, 94, 140, 94, 128, 140, 128, 128, 37, 128, 128, 94, 94, 140, 140, 94, 94, 140,
          140, 140, 140]
WFNS_Y = [80, 80, 80, 80, 18, 80, 66, 66, 80, 66, 66, 80, 80, 80, 66, 80, 66, 80, 80, 53, 44, 80,
          44, 80, 18, 18, 80, 80, 66, 44, 80, 80, 66, 66, 80, 66, 80, 66, 66, 80, 80, 80, 80, 66,
          80, 66, 80, 80, 53, 66, 44, 66, 80, 44, 80, 80, 18, 44, 66, 66, 80, 80, 80, 53, 80, 66,
          66, 44, 44, 80, 80, 80]
S100B_X = [81, 63, 103, 78, 130, 144, 140, 26, 123, 50, 26, 128, 126, 139, 144, 118, 144, 144, 144,
           26, 144, 120, 0, 50, 116, 144, 118, 144, 38, 118, 81, 63, 74, 116, 144, 88, 144, 121,
           144, 144, 130]
S100B_Y = [58, 55, 66, 80, 28, 52, 66, 66, 80, 73, 80, 70, 63, 77, 52, 77, 63, 58, 52, 80, 53, 55,
           36, 70, 24, 28, 53, 77, 32, 28, 63, 73, 70, 73, 80, 58, 66, 55, 54, 80, 80, 70, 80, 70,
           73, 53, 70, 73, 37, 63, 42, 77, 66, 39, 77, 80, 48, 34, 66, 54, 73, 55, 66, 77, 80, 52,
           54, 28, 52, 54, 24, 27]
# fmt: on


def scores_from_placements(cases: list[int], controls: list[int]) -> np.ndarray:
    """Scores with exactly these doubled placements (rank-equivalent to the original predictor).

    Controls with equal placement form one score level (a case between them would set them apart);
    a case either sits strictly between two levels or ties one, which its count tells."""
    levels = sorted(set(controls), reverse=True)  # more cases above = a lower score
    sizes = [controls.count(level) for level in levels]
    below = np.concatenate([[0], np.cumsum(sizes)])
    case_scores = []
    for count in cases:
        for k in range(len(levels) + 1):
            if count == 2 * below[k]:  # above level k-1, below level k
                case_scores.append(2.0 * k - 1)
                break
            if k < len(levels) and count == 2 * below[k] + sizes[k]:  # tied with level k
                case_scores.append(2.0 * k)
                break
        else:
            raise AssertionError(f"placement {count} fits no level")
    control_scores = [2.0 * levels.index(c) for c in controls]
    return np.array(case_scores + control_scores)


@pytest.fixture(scope="module")
def asah() -> dict[str, np.ndarray]:
    y = np.r_[np.ones(41), np.zeros(72)].astype(int)
    return {
        "y": y,
        "wfns": scores_from_placements(WFNS_X, WFNS_Y),
        "s100b": scores_from_placements(S100B_X, S100B_Y),
    }


def test_reconstructed_asah_scores_have_procs_placements(asah: dict[str, np.ndarray]) -> None:
    for name, (xs, ys) in {"wfns": (WFNS_X, WFNS_Y), "s100b": (S100B_X, S100B_Y)}.items():
        v10, v01 = compare.placements(asah["y"], asah[name])
        np.testing.assert_allclose(v10 * 144, xs, atol=1e-9)
        np.testing.assert_allclose(v01 * 82, ys, atol=1e-9)
        assert compare.auc(asah["y"], asah[name]) == pytest.approx(PROC_AUC[name], abs=1e-12)


def test_delong_reproduces_procs_roc_test(asah: dict[str, np.ndarray]) -> None:
    """roc.test(r.wfns, r.s100b): delta = AUC(wfns) - AUC(s100b); here s100b is the reference."""
    r = compare.delong(asah["y"], asah["s100b"], asah["wfns"])
    assert r.candidate_auc == pytest.approx(PROC_AUC["wfns"], abs=1e-12)
    assert r.reference_auc == pytest.approx(PROC_AUC["s100b"], abs=1e-12)
    assert r.z == pytest.approx(PROC_Z, rel=1e-9)
    assert r.p_two_sided == pytest.approx(PROC_P_TWO_SIDED, rel=1e-9)
    assert r.p_value == pytest.approx(PROC_P_GREATER, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx(PROC_CI, rel=1e-9)
    # Swapping the curves flips the sign and keeps the two-sided p (pROC's reversal test).
    swapped = compare.delong(asah["y"], asah["wfns"], asah["s100b"])
    assert swapped.z == pytest.approx(-PROC_Z, rel=1e-9)
    assert swapped.p_two_sided == pytest.approx(PROC_P_TWO_SIDED, rel=1e-9)
    assert swapped.p_value == pytest.approx(1 - PROC_P_GREATER, rel=1e-9)


def brute_force(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) by definition, O(m*n): psi over every (positive, negative) pair."""
    out = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))  # AUC, V10, V01
    m, n = int((y == 1).sum()), int((y == 0).sum())
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = out
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    cov = s10 / m + s01 / n
    return auc_a, auc_b, float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fast_delong_equals_the_pairwise_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 400))
    y = (rng.random(n) < rng.uniform(0.2, 0.6)).astype(int)
    # Rounded scores: many ties, within and across classes (the mid-rank edge cases).
    a = np.round(y * 0.8 + rng.normal(size=n), 1)
    b = np.round(0.6 * a + y * 0.5 + rng.normal(size=n), 1)
    auc_a, auc_b, var = brute_force(y, a, b)
    r = compare.delong(y, a, b)
    assert r.reference_auc == pytest.approx(auc_a, abs=1e-12)
    assert r.candidate_auc == pytest.approx(auc_b, abs=1e-12)
    assert r.se**2 == pytest.approx(var, rel=1e-9)
    assert r.candidate_auc == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    v10, v01 = compare.placements(y, a)
    pos, neg = a[y == 1], a[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    np.testing.assert_allclose(v10, psi.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(v01, psi.mean(axis=0), atol=1e-12)


def test_identical_models_give_no_evidence() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = rng.random(500)
    r = compare.delong(y, s, s)
    assert (r.delta, r.se, r.z, r.p_value, r.p_two_sided) == (0.0, 0.0, 0.0, 0.5, 1.0)


def census_like(n: int = 3000, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.33).astype(int)
    shared = rng.normal(size=n)
    a = y * 1.8 + shared + 0.5 * rng.normal(size=n)
    b = y * 1.9 + shared + 0.5 * rng.normal(size=n)
    return y, a, b


def test_bootstrap_is_reproducible_by_seed_and_agrees_with_delong() -> None:
    y, a, b = census_like()
    first = compare.bootstrap(y, a, b, n_resamples=500, seed=55)
    again = compare.bootstrap(y, a, b, n_resamples=500, seed=55)
    other = compare.bootstrap(y, a, b, n_resamples=500, seed=56)
    assert first == again
    assert other != first
    assert first.delta == other.delta == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a), abs=1e-12)
    delong = compare.delong(y, a, b)
    # Two estimators of one standard error: within the bootstrap's own noise (500 resamples).
    assert first.se == pytest.approx(delong.se, rel=0.15)
    assert first.ci_low < first.delta < first.ci_high
    assert first.method == "bootstrap" and delong.method == "delong"


def test_bootstrap_aucs_match_a_direct_computation() -> None:
    """The tie-group weighting scores each resample exactly as roc_auc_score on the drawn rows."""
    y, a, _ = census_like(400, seed=3)
    a = np.round(a, 1)  # ties
    pos = y.astype(bool)
    groups = compare._TieGroups(a, pos)
    rng = np.random.default_rng(1)
    for _ in range(5):
        rows = np.r_[
            rng.choice(np.flatnonzero(pos), pos.sum()), rng.choice(np.flatnonzero(~pos), (~pos).sum())
        ]
        counts = np.bincount(rows, minlength=y.size)[None, :].astype(float)
        got = groups.aucs(counts, int(pos.sum()), int((~pos).sum()))[0]
        assert got == pytest.approx(roc_auc_score(y[rows], a[rows]), abs=1e-12)


def test_detectable_delta() -> None:
    # (z_0.95 + z_0.80) x SE = (1.6449 + 0.8416) x SE
    assert compare.detectable_delta(0.001, 0.05) == pytest.approx(0.0024865, abs=1e-6)


def test_slices_score_both_models_on_their_rows() -> None:
    import pandas as pd

    y, a, b = census_like(600, seed=5)
    frame = pd.DataFrame({"sex_Female": (np.arange(600) % 3 == 0).astype(int)})
    frame["sex_Male"] = 1 - frame["sex_Female"]
    frame["race_Other"] = 0
    frame.loc[:4, "race_Other"] = 1
    rows = compare.slice_scores(y, a, b, frame, ["sex", "race"])
    assert [(s.attribute, s.value, s.rows) for s in rows] == [
        ("sex", "Female", 200),
        ("sex", "Male", 400),
        ("race", "Other", 5),
    ]
    female = frame["sex_Female"].to_numpy() == 1
    assert rows[0].reference_auc == pytest.approx(roc_auc_score(y[female], a[female]))
    assert rows[0].delta == pytest.approx(
        roc_auc_score(y[female], b[female]) - roc_auc_score(y[female], a[female])
    )
    if len(set(y[:5])) < 2:
        assert rows[2].reference_auc is None and rows[2].delta is None
