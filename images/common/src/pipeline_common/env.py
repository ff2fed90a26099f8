"""Numbers read from the environment (budgets, caps, timeouts): a value a stage cannot use is one
line naming the variable and a value that works, never a traceback deep in the stage."""

from __future__ import annotations

import os

from pipeline_common.errors import StageError


def number(
    name: str, default: float | None, *, kind: type = int, minimum: float = 1, example: float | None = None
) -> float | None:
    """Environment variable `name` as `kind` (int or float), at least `minimum` (1 or 0);
    `default` when it is unset or empty. `example` is the value the fix suggests (default: the
    default)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        sign = "positive" if minimum > 0 else "non-negative"
        what = f"a {sign} integer" if kind is int else f"a {sign} number"
        suggested = default if example is None else example
        raise StageError(f"{name}={raw!r} is not {what}", f"set {name} to e.g. {suggested}, or unset it")
    return value
