"""Progress lines on a simulated clock: no early ETA, a rate and an ETA that converge, one 100% line.

The simulated search is the full logreg grid as it ran on 2 workers: 48 candidates x 5 folds,
listed costliest first, each fit taking its candidate's measured mean fit time, after 5 s of
worker start-up. With the old Progress its first line read "1/240 fits ... ETA 20m" for a
search of one minute.
"""

from __future__ import annotations

import heapq
import logging
import re

import pytest
from pipeline_common.logs import Progress

# Mean fit seconds of the full logreg grid's candidates in grid order (census, 2 workers).
LOGREG_FULL = [
    1.95, 2.38, 0.69, 0.27, 1.16, 0.16, 0.31, 1.69, 1.81, 0.91, 1.04, 0.38, 0.37, 0.21, 0.09, 0.17,
    0.06, 0.13, 0.43, 0.6, 0.19, 0.18, 0.19, 0.25, 0.58, 0.17, 0.17, 0.16, 0.31, 0.2, 0.16, 0.19,
    0.21, 0.66, 0.19, 0.12, 0.11, 0.09, 0.23, 0.54, 0.05, 0.1, 0.07, 0.09, 0.15, 0.05, 0.07, 0.02,
]  # fmt: skip
FOLDS, WORKERS, START_UP = 5, 2, 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.clock.now, record.getMessage()))


def finish_times(costs: list[float]) -> list[float]:
    """When each task ends, in dispatch order, on WORKERS after START_UP seconds."""
    free = [START_UP] * WORKERS
    heapq.heapify(free)
    ends = []
    for cost in costs:
        start = heapq.heappop(free)
        heapq.heappush(free, start + cost)
        ends.append(start + cost)
    return ends


def completions(costs: list[float]) -> list[tuple[float, float]]:
    """(finish time, cost) of each task, dispatched in order to WORKERS after START_UP seconds."""
    return sorted(zip(finish_times(costs), costs, strict=True))


def recorder(clock: Clock) -> tuple[logging.Logger, Lines]:
    """A logger of its own whose lines are kept with the simulated time they were logged at."""
    logger = logging.getLogger(f"test-progress-{id(clock)}")
    logger.propagate = False
    lines = Lines(clock)
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    return logger, lines


def simulate(costs: list[float], weighted: bool, every: float = 2.0) -> tuple[list[tuple[float, str]], float]:
    clock = Clock()
    logger, lines = recorder(clock)
    progress = Progress(
        "cv fits",
        len(costs),
        logger,
        every=every,
        work=sum(costs) if weighted else None,
        unit="fits",
        clock=clock,
    )
    finished = completions(costs)
    for when, cost in finished:
        clock.now = when
        progress.advance(1, work=cost if weighted else None)
    return lines.lines, finished[-1][0]


def etas(lines: list[tuple[float, str]], end: float) -> list[tuple[float, float, float]]:
    """(time, ETA shown, true time left) of every line that shows an ETA."""
    out = []
    for when, text in lines:
        found = re.search(r"ETA (?:(\d+)m)?(\d+)s", text)
        if found:
            shown = int(found.group(1) or 0) * 60 + int(found.group(2))
            out.append((when, float(shown), end - when))
    return out


def test_no_eta_before_the_warm_up_and_never_from_start_up() -> None:
    costs = [c for c in LOGREG_FULL for _ in range(FOLDS)]
    lines, end = simulate(costs, weighted=False, every=0.0)
    first = lines[0][1]
    assert first.startswith("cv fits: 1/240 (0%)") and "ETA" not in first, first
    # The old estimate, elapsed / done x left, at the first fit: ~20 minutes for a 1-minute search.
    assert lines[0][0] / 1 * 239 > 15 * end
    shown = etas(lines, end)
    assert shown, "no ETA at all"
    warm_at = shown[0][0]
    assert sum(1 for when, _ in lines if when < warm_at) >= 3


def test_eta_from_known_costs_is_close_from_the_warm_up_on() -> None:
    costs = [c for c in LOGREG_FULL for _ in range(FOLDS)]
    lines, end = simulate(costs, weighted=True)
    shown = etas(lines, end)
    assert len(shown) >= 5
    for when, eta, left in shown:
        # Whole seconds shown; within a fifth of the truth (or 2 s near the end).
        assert abs(eta - left) <= max(0.2 * left, 2.0), (when, eta, left, lines)
    assert "fits/s" in lines[len(lines) // 2][1]


def test_eta_counting_fits_converges_and_never_says_minutes_for_a_minute() -> None:
    """Without known costs the costliest-first order makes it pessimistic, but bounded and converging."""
    costs = [c for c in LOGREG_FULL for _ in range(FOLDS)]
    lines, end = simulate(costs, weighted=False)
    shown = etas(lines, end)
    errors = [abs(eta - left) for _, eta, left in shown]
    assert max(eta for _, eta, _ in shown) < 5 * end
    assert errors[-1] < 0.1 * end and errors[-1] < errors[0] / 10


@pytest.mark.parametrize("every", [0.0, 5.0])
def test_equal_fits_give_a_true_eta_and_one_100_percent_line(every: float) -> None:
    lines, end = simulate([0.5] * 100, weighted=False, every=every)
    for _, eta, left in etas(lines, end):
        # The first few fits finish together on 2 workers: a fifth off at worst, then closer.
        assert abs(eta - left) <= max(0.2 * left, 1.0)
    assert [text for _, text in lines if "(100%)" in text] == [lines[-1][1]]


def test_reaching_the_total_twice_logs_the_end_once(caplog: pytest.LogCaptureFixture) -> None:
    """A reader whose position reaches the end before its last batch (read-ahead) advanced by 0 again."""
    clock = Clock()
    progress = Progress("read census.csv.gz", 409101, logging.getLogger("t-end"), clock=clock)
    with caplog.at_level(logging.INFO, logger="t-end"):
        clock.now = 1.0
        progress.advance(409101)
        progress.advance(0)
        progress.advance(5)
    assert [r.getMessage() for r in caplog.records] == ["read census.csv.gz: 409101/409101 (100%) elapsed 1s"]


def test_message_has_counts_rate_and_eta() -> None:
    clock = Clock()
    progress = Progress("fits", 100, logging.getLogger("t"), every=1e9, unit="fits", clock=clock)
    clock.now = 4.0
    progress.advance(1)  # start-up: 4 s, not the fits' cost
    for _ in range(19):
        clock.now += 0.5
        progress.advance(1)
    assert progress.message() == "fits: 20/100 (20%) elapsed 14s, 2.0 fits/s, ETA 40s"


def test_fit_costs_come_back_from_the_cv_results_the_trainer_logs(tmp_path) -> None:
    import pandas as pd
    from trainer import fit_costs

    grid = [{"clf__C": c, "clf__solver": s} for s in ("saga", "lbfgs") for c in (100, 0.001)]
    frame = pd.DataFrame({"params": grid[:3], "mean_fit_time": [2.0, 0.2, 0.1], "mean_test_score": 0.9})
    frame.to_csv(tmp_path / "cv_results.csv", index=False)  # as train.py logs cv/cv_results.csv
    costs = fit_costs.from_cv_results(tmp_path / "cv_results.csv")
    assert costs[fit_costs.key(grid[0])] == 2.0
    # The candidate the earlier run did not have costs the median of the known ones.
    assert fit_costs.per_candidate(costs, grid) == [2.0, 0.2, 0.1, 0.2]
    assert fit_costs.per_candidate(None, grid) == [1.0] * 4


def simulate_learning(
    costs: list[float], prior: list[float] | None, every: float = 2.0
) -> tuple[list[tuple[float, str]], float]:
    """The fold-by-fold search's loop: fold by fold, each candidate's cost learned as it runs
    (trainer.fit_costs.SearchProgress), progress in measured seconds."""
    from trainer.fit_costs import SearchProgress

    clock = Clock()
    logger, lines = recorder(clock)
    order = [(fold, index) for fold in range(FOLDS) for index in range(len(costs))]
    progress = SearchProgress(
        logger, len(order), groups=len(costs), folds=FOLDS, prior=prior, every=every, clock=clock
    )
    ends = sorted(zip(finish_times([costs[i] for _, i in order]), order, strict=True))
    for when, (_, index) in ends:
        clock.now = when
        progress.done(index, 1, costs[index])
    return lines.lines, ends[-1][0]


@pytest.mark.parametrize("prior", ["none", "earlier run", "earlier run on a slower machine"])
def test_eta_learned_while_the_search_runs_is_true(prior: str) -> None:
    """A first run knows no costs: no ETA until every candidate ran once (fold 0, a fifth of the
    fits), then within a fifth of the truth. An earlier run's costs give it from the warm-up on,
    also when that run was 3x slower (its costs are rescaled to this run's pace)."""
    known = {
        "none": None,
        "earlier run": LOGREG_FULL,
        "earlier run on a slower machine": [3 * c for c in LOGREG_FULL],
    }
    lines, end = simulate_learning(LOGREG_FULL, known[prior])
    shown = etas(lines, end)
    assert len(shown) >= 5, lines
    for when, eta, left in shown:
        assert abs(eta - left) <= max(0.2 * left, 2.0), (when, eta, left, lines)
    first_fold_done = sorted(finish_times(LOGREG_FULL * FOLDS))[len(LOGREG_FULL) - 1]
    if prior == "none":
        assert shown[0][0] >= first_fold_done - 1e-9
    else:
        assert shown[0][0] < first_fold_done


def test_remaining_counts_each_group_at_its_own_mean_and_scales_the_prior() -> None:
    from trainer.fit_costs import Remaining

    blind = Remaining(2, 3)
    assert blind.total() is None
    blind.record(0, 4.0)
    assert blind.total() is None  # group 1 never ran: unknown
    blind.record(1, 1.0)
    assert blind.total() == 4.0 * 3 + 1.0 * 3
    informed = Remaining(2, 3, prior=[2.0, 0.5])
    assert informed.total() == 2.0 * 3 + 0.5 * 3
    informed.record(0, 4.0)  # twice as slow as the earlier run: group 1 is expected at 1.0
    assert informed.total() == 4.0 * 3 + 1.0 * 3
    with pytest.raises(ValueError, match="3 prior costs for 2 groups"):
        Remaining(2, 3, prior=[1.0, 1.0, 1.0])
