"""Every distinct value of a grid checked against the estimator's own rules, before any run exists.

scikit-learn estimators declare what each parameter accepts (`_parameter_constraints`) and check
it with the same function used here, so a value is refused with scikit-learn's own words. For a
parameter without declared constraints (LightGBM, or a parameter scikit-learn leaves open), the
value is tried: one fit of the estimator with only that value changed, on a tiny made-up table
(PROBE_ROWS rows), with iteration counts cut to PROBE_ITERATIONS (the type and sign of a count are
what can be wrong with it; its size only costs time). A LightGBM probe takes about a millisecond.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError

from trainer.models import final_step

if TYPE_CHECKING:
    from trainer.models import ModelSpec

log = logging.getLogger(__name__)
PROBE_ROWS = 64
PROBE_ITERATIONS = 2
# Parameters that count iterations (boosting rounds, solver epochs): probed with a small count.
ITERATION_PARAMS = {"n_estimators", "num_iterations", "num_boost_round", "n_iter", "max_iter", "iterations"}


def distinct(values: list[Any]) -> list[Any]:
    """The values of a grid list once each (values may be unhashable, e.g. dicts)."""
    seen, out = set(), []
    for value in values:
        key = (type(value).__name__, repr(value))
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _hint(value: Any) -> str:
    """YAML 1.1 reads 1e-3 as text: say so when a text value reads as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (YAML read {value!r} as text: write a number with a dot, e.g. 1.0e-3)"
    return ""


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:240]


def _probe_table() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((PROBE_ROWS, 4))
    y = (X[:, 0] + 0.3 * rng.random(PROBE_ROWS) > 0.6).astype(int)
    return X, y


def probed_value(name: str, value: Any) -> Any:
    if name in ITERATION_PARAMS and isinstance(value, int | float) and not isinstance(value, bool):
        return type(value)(min(value, PROBE_ITERATIONS)) if value > PROBE_ITERATIONS else value
    return value


def check(spec: ModelSpec, subgrids: tuple[dict[str, list[Any]], ...], source: str) -> float:
    """Raise a StageError naming the first value the estimator rejects; returns seconds spent."""
    from sklearn.base import clone
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    started = time.monotonic()
    final = final_step(spec.build(0))
    constraints = getattr(type(final), "_parameter_constraints", {}) or {}
    values: dict[str, list[Any]] = {}
    for sub in subgrids:
        for name, listed in sub.items():
            values.setdefault(name, []).extend(listed)
    table = None
    for name, listed in values.items():
        for value in distinct(listed):
            problem = None
            if name in constraints:
                try:
                    validate_parameter_constraints(
                        {name: constraints[name]}, {name: value}, caller_name=type(final).__name__
                    )
                except InvalidParameterError as exc:
                    problem = _first_line(exc)
            else:
                table = table or _probe_table()
                try:
                    clone(final).set_params(**{name: probed_value(name, value)}).fit(*table)
                except Exception as exc:  # the estimator's own refusal, whatever its type
                    problem = f"{type(final).__name__} rejects {name}={value!r}: {_first_line(exc)}"
            if problem:
                raise StageError(
                    f"{source} has an invalid value {name}={value!r}: {problem}{_hint(value)}",
                    f"fix or remove the value in the grid ({spec.entry.origin} or the --grid file)",
                )
    return time.monotonic() - started
