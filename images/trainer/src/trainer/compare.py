"""Two classifiers' ROC AUC on the same rows: DeLong's paired test, a seeded paired bootstrap, slices.

Pure numpy/scipy (no MLflow, no I/O), so every number the promotion gate uses is unit-testable.

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of two correlated AUCs from their
structural components (placements): for a positive row i, V10_i = the share of negatives it
outranks (ties count half); for a negative row j, V01_j = the share of positives that outrank it.
Sun & Xu (2014, IEEE Signal Processing Letters 21(11)) compute the placements from mid-ranks in
O(n log n) instead of the O(m*n) pair loop: V10_i = (rank_i among all - rank_i among positives) / n
and V01_j = 1 - (rank_j among all - rank_j among negatives) / m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
METHODS = ("delong", "bootstrap")
# Resamples per batch of the bootstrap: bounds its memory (batch x rows counts) on a 6,508-row holdout.
_BATCH = 200


@dataclass(frozen=True)
class Paired:
    """Candidate vs reference on the same rows. delta = candidate - reference.

    p_value is one-sided (H1: the candidate's AUC is higher): the gate only ever asks whether a
    gain is real. p_two_sided is the usual two-sided value (what pROC's roc.test prints)."""

    method: str
    rows: int
    positives: int
    reference_auc: float
    candidate_auc: float
    delta: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    p_two_sided: float


def _norm() -> Any:
    from scipy.stats import norm

    return norm


def _labels(y: Any) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:  # booleans compare equal to 0 and 1
        raise ValueError(f"labels must be 0/1, got {sorted(values)[:5]}")
    return labels.astype(bool)


def placements(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components (V10 of the positives, V01 of the negatives), by mid-ranks."""
    from scipy.stats import rankdata

    pos = _labels(y)
    s = np.asarray(scores, dtype=np.float64)
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        raise ValueError("both classes are needed for an AUC")
    all_ranks = rankdata(s, method="average")
    v10 = (all_ranks[pos] - rankdata(s[pos], method="average")) / n
    v01 = 1.0 - (all_ranks[~pos] - rankdata(s[~pos], method="average")) / m
    return v10, v01


def auc(y: Any, scores: Any) -> float:
    """ROC AUC (Mann-Whitney, ties count half): the mean placement of the positives."""
    v10, _ = placements(y, scores)
    return float(v10.mean())


def _z_test(method: str, y: np.ndarray, ref: float, cand: float, se: float) -> Paired:
    norm = _norm()
    delta = cand - ref
    # se 0: identical rankings (or a degenerate sample), so no evidence either way unless the
    # AUCs differ, which a zero variance cannot produce. pROC sets Z = 0 there too.
    z = delta / se if se > 0 else (0.0 if delta == 0 else math.copysign(math.inf, delta))
    half = float(norm.ppf(0.5 + CONFIDENCE / 2)) * se
    return Paired(
        method=method,
        rows=int(y.size),
        positives=int(y.sum()),
        reference_auc=float(ref),
        candidate_auc=float(cand),
        delta=float(delta),
        se=float(se),
        ci_low=float(delta - half),
        ci_high=float(delta + half),
        z=float(z),
        p_value=float(norm.sf(z)),
        p_two_sided=float(min(1.0, 2 * norm.sf(abs(z)))),
    )


def delong(y: Any, reference: Any, candidate: Any) -> Paired:
    """DeLong's test for two correlated ROC curves (fast algorithm of Sun & Xu 2014)."""
    labels = _labels(y)
    ref10, ref01 = placements(labels, reference)
    cand10, cand01 = placements(labels, candidate)
    m, n = ref10.size, ref01.size
    # S10/S01: 2x2 sample covariances of the placements; var(delta) = c' (S10/m + S01/n) c, c = (-1, 1).
    s10 = np.cov(np.vstack([ref10, cand10])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([ref01, cand01])) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return _z_test("delong", labels, float(ref10.mean()), float(cand10.mean()), math.sqrt(max(var, 0.0)))


class _TieGroups:
    """One model's scores as ascending tie groups, to score many resamples of the rows at once."""

    def __init__(self, scores: np.ndarray, pos: np.ndarray) -> None:
        from scipy.sparse import csr_matrix

        values, group = np.unique(scores, return_inverse=True)
        k = values.size
        self.pos = csr_matrix(
            (np.ones(int(pos.sum())), (np.flatnonzero(pos), group[pos])), shape=(pos.size, k)
        )
        self.neg = csr_matrix(
            (np.ones(int((~pos).sum())), (np.flatnonzero(~pos), group[~pos])), shape=(pos.size, k)
        )

    def aucs(self, counts: np.ndarray, m: int, n: int) -> np.ndarray:
        """AUC of each resample; counts[b, i] = how often row i was drawn into resample b."""
        p = (self.pos.T @ counts.T).T  # positives per tie group, per resample
        q = (self.neg.T @ counts.T).T
        below = np.cumsum(q, axis=1) - q
        return (p * (below + 0.5 * q)).sum(axis=1) / (m * n)


def bootstrap(y: Any, reference: Any, candidate: Any, n_resamples: int = 2000, seed: int = 55) -> Paired:
    """Paired, stratified bootstrap of the AUC difference (same rows for both models in each draw).

    Positives and negatives are resampled separately (as pROC's default boot.stratified), so every
    draw has both classes. z = delta / sd(draws) against the normal distribution (pROC's
    bootstrap test); the interval is the percentile interval of the draws. Reproducible by seed.
    """
    if n_resamples < 10:
        raise ValueError("the bootstrap needs at least 10 resamples")
    labels = _labels(y)
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    pos_idx, neg_idx = np.flatnonzero(labels), np.flatnonzero(~labels)
    m, n = pos_idx.size, neg_idx.size
    if m == 0 or n == 0:
        raise ValueError("both classes are needed for an AUC")
    groups = (_TieGroups(ref, labels), _TieGroups(cand, labels))
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    for start in range(0, n_resamples, _BATCH):
        b = min(_BATCH, n_resamples - start)
        counts = np.zeros((b, labels.size))
        for idx in (pos_idx, neg_idx):
            drawn = idx[rng.integers(0, idx.size, size=(b, idx.size))]
            # One bincount over all resamples of the batch: row r's draws land at r * size + i.
            flat = (drawn + (np.arange(b) * labels.size)[:, None]).ravel()
            counts += np.bincount(flat, minlength=b * labels.size).reshape(b, labels.size)
        deltas[start : start + b] = groups[1].aucs(counts, m, n) - groups[0].aucs(counts, m, n)
    ref_auc, cand_auc = auc(labels, ref), auc(labels, cand)
    result = _z_test("bootstrap", labels, ref_auc, cand_auc, float(np.std(deltas, ddof=1)))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return Paired(**{**result.__dict__, "ci_low": float(low), "ci_high": float(high)})


def compare(
    y: Any, reference: Any, candidate: Any, method: str = "delong", n_resamples: int = 2000, seed: int = 55
) -> Paired:
    if method == "delong":
        return delong(y, reference, candidate)
    if method == "bootstrap":
        return bootstrap(y, reference, candidate, n_resamples=n_resamples, seed=seed)
    raise ValueError(f"unknown method {method!r}; use one of {METHODS}")


def detectable_delta(se: float, alpha: float, power: float = 0.8) -> float:
    """The smallest true gain a one-sided test at `alpha` detects with `power`, given the SE of delta."""
    norm = _norm()
    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)


@dataclass(frozen=True)
class SliceScore:
    """Both models on the rows of one slice (those whose one-hot column `column` is 1)."""

    attribute: str
    value: str
    column: str
    rows: int
    positives: int
    reference_auc: float | None  # None: the slice holds a single class, so it has no AUC
    candidate_auc: float | None

    @property
    def delta(self) -> float | None:
        if self.reference_auc is None or self.candidate_auc is None:
            return None
        return self.candidate_auc - self.reference_auc


def slice_columns(columns: list[str], attribute: str) -> list[str]:
    """The one-hot columns `<attribute>_<value>` of an attribute, in holdout order."""
    prefix = f"{attribute}_"
    return [c for c in columns if c.startswith(prefix) and len(c) > len(prefix)]


def slice_scores(
    y: Any, reference: Any, candidate: Any, frame: Any, attributes: list[str]
) -> list[SliceScore]:
    """Both models' AUC on every slice of every attribute (frame: the holdout's feature columns)."""
    labels = _labels(y)
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    out = []
    for attribute in attributes:
        for column in slice_columns(list(frame.columns), attribute):
            mask = np.asarray(frame[column]) == 1
            rows, positives = int(mask.sum()), int(labels[mask].sum())
            scored = 0 < positives < rows
            out.append(
                SliceScore(
                    attribute=attribute,
                    value=column[len(attribute) + 1 :],
                    column=column,
                    rows=rows,
                    positives=positives,
                    reference_auc=auc(labels[mask], ref[mask]) if scored else None,
                    candidate_auc=auc(labels[mask], cand[mask]) if scored else None,
                )
            )
    return out
