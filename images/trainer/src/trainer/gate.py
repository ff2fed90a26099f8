"""The promotion gate: when a candidate may replace the champion. Pure logic, no MLflow.

A candidate replaces the champion only when, on the same holdout rows,
1. its ROC AUC is higher by at least `min_delta`,
2. a paired test (DeLong, or a seeded paired bootstrap) says the gain is not noise: one-sided
   p-value below `alpha`, and
3. no slice of the slice attributes with at least `min_slice_rows` rows (and both classes) loses
   more than `max_slice_drop` of ROC AUC.
The defaults come from the census holdout (6,508 rows); docs/promotion.md shows the numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipeline_common.errors import StageError

from trainer import compare

# Rules that decide a promotion, by name (return.json `rule`, tag promote.rule, ledger entries).
RULES = {
    "gate_passed": "the candidate passed the gate",
    "gain_below_min_delta": "the ROC AUC gain is below min_delta",
    "gain_not_significant": "the paired test does not show the gain is more than noise",
    "slice_drop": "a slice loses more ROC AUC than max_slice_drop",
    "no_champion": "the alias held no model",
    "already_champion": "the candidate already holds the alias",
    "no_fair_comparison": "the champion and the candidate cannot be scored on one holdout",
    "rolled_back": "the candidate's version was rolled back before",
    "forced": "--force replaced the champion without the gate's consent",
    "rollback": "`trainer rollback` moved the alias back",
}


@dataclass(frozen=True)
class GateOptions:
    # Defaults justified in docs/promotion.md from the census holdout.
    min_delta: float = 0.001
    alpha: float = 0.05
    max_slice_drop: float = 0.02
    min_slice_rows: int = 500
    test: str = "delong"
    bootstrap: int = 2000
    seed: int = 55

    def check(self) -> None:
        """Refuse values the gate cannot mean (before anything is read or written)."""

        def bad(option: str, value: Any, rule: str) -> StageError:
            return StageError(f"{option} {value} is out of range ({rule})", f"pass {option} {rule}")

        if not (math.isfinite(self.min_delta) and 0 <= self.min_delta < 1):
            raise bad("--min-delta", self.min_delta, "a ROC AUC gain in [0, 1), e.g. 0.001")
        if not (math.isfinite(self.alpha) and 0 < self.alpha < 1):
            raise bad("--alpha", self.alpha, "a significance level in (0, 1), e.g. 0.05")
        if not (math.isfinite(self.max_slice_drop) and 0 <= self.max_slice_drop <= 1):
            raise bad("--max-slice-drop", self.max_slice_drop, "a ROC AUC drop in [0, 1], e.g. 0.02")
        if self.min_slice_rows < 1:
            raise bad("--min-slice-rows", self.min_slice_rows, "a row count of at least 1, e.g. 500")
        if self.test not in compare.METHODS:
            raise bad("--test", self.test, f"one of {', '.join(compare.METHODS)}")
        if self.bootstrap < 100:
            raise bad("--bootstrap", self.bootstrap, "at least 100 resamples, e.g. 2000")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    promoted: bool
    rule: str
    reason: str


@dataclass(frozen=True)
class SliceCheck:
    """One slice of the table the guard reads: scores, whether it is guarded, whether it dropped."""

    score: compare.SliceScore
    guarded: bool  # enough rows and both classes
    dropped: bool  # guarded and lost more than max_slice_drop

    def as_dict(self) -> dict[str, Any]:
        s = self.score
        delta = s.delta
        return {
            "attribute": s.attribute,
            "value": s.value,
            "rows": s.rows,
            "positives": s.positives,
            "champion_roc_auc": None if s.reference_auc is None else round(s.reference_auc, 6),
            "candidate_roc_auc": None if s.candidate_auc is None else round(s.candidate_auc, 6),
            "delta": None if delta is None else round(delta, 6),
            "guarded": self.guarded,
            "dropped": self.dropped,
        }


def check_slices(slices: list[compare.SliceScore], opts: GateOptions) -> list[SliceCheck]:
    out = []
    for s in slices:
        guarded = s.rows >= opts.min_slice_rows and s.delta is not None
        dropped = guarded and s.delta is not None and s.delta < -opts.max_slice_drop
        out.append(SliceCheck(s, guarded, dropped))
    return out


def judge(paired: compare.Paired, slices: list[SliceCheck], opts: GateOptions, champion: str) -> Verdict:
    """The gate's verdict on the candidate against `champion` (e.g. 'champion v3')."""
    numbers = (
        f"roc_auc {paired.candidate_auc:.4f} vs {paired.reference_auc:.4f} of {champion} on the same "
        f"{paired.rows:,} holdout rows: {paired.delta:+.4f} (95% CI {paired.ci_low:+.4f} to "
        f"{paired.ci_high:+.4f}, {paired.method} p={paired.p_value:.3g})"
    )
    # A hair of tolerance: a gain of exactly min_delta must not fail on float rounding.
    if paired.delta + 1e-12 < opts.min_delta:
        return Verdict(
            False,
            "gain_below_min_delta",
            f"{champion} stays: {numbers}; gain below min_delta {opts.min_delta:g}",
        )
    if not paired.p_value < opts.alpha:
        return Verdict(
            False,
            "gain_not_significant",
            f"{champion} stays: {numbers}; not significant at alpha {opts.alpha:g}",
        )
    dropped = [c for c in slices if c.dropped]
    if dropped:
        worst = min(dropped, key=lambda c: c.score.delta or 0.0).score
        return Verdict(
            False,
            "slice_drop",
            f"{champion} stays: {numbers}; but slice {worst.attribute}={worst.value} "
            f"({worst.rows:,} rows) drops {worst.delta:+.4f} (limit -{opts.max_slice_drop:g})",
        )
    return Verdict(
        True,
        "gate_passed",
        f"replaces {champion}: {numbers}; gain >= {opts.min_delta:g}, significant, no slice drop",
    )


def forced(verdict: Verdict) -> Verdict:
    """--force: the candidate replaces the champion; the gate's own verdict stays in the reason."""
    if verdict.promoted:
        return verdict
    return Verdict(True, "forced", f"forced by --force against the gate ({verdict.rule}: {verdict.reason})")
