"""Will skops load the model back? Asked before the search, on a model fitted to a few hundred rows.

MLflow stores scikit-learn models with skops, which refuses to load any type outside its safe set
and the catalogue entry's `trusted_types`. Without this probe a missing type is found only when
the trained model is logged, after the whole search. The model's types do not depend on how many
rows it saw, so the first candidate fitted on PROBE_ROWS train rows (iteration counts cut short,
as in grid_values.py) has the same ones: about 0.1 s, plus importing skops (~0.5 s), which the
trainer would import anyway to log the model.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError

from trainer.grid_values import probed_value

if TYPE_CHECKING:
    import pandas as pd

    from trainer.grids import Grid
    from trainer.models import ModelSpec

log = logging.getLogger(__name__)
PROBE_ROWS = 300


def _rows(y: pd.Series) -> list[int]:
    """PROBE_ROWS row positions holding both classes (the splits come shuffled)."""
    import numpy as np

    values = y.to_numpy()
    picked = []
    for cls in np.unique(values):
        picked.extend(np.flatnonzero(values == cls)[: PROBE_ROWS // 2].tolist())
    return sorted(picked)


def require_loadable(spec: ModelSpec, grid: Grid, X: pd.DataFrame, y: pd.Series, seed: int) -> float:
    """Raise a StageError naming the types skops would refuse; returns the seconds it took."""
    import skops.io
    from sklearn.exceptions import ConvergenceWarning

    started = time.monotonic()
    params = {spec.prefix + k: probed_value(k, v) for k, v in grid.first_candidate().items()}
    rows = _rows(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model: Any = spec.build(seed).set_params(**params).fit(X.iloc[rows], y.iloc[rows])
    needed = set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    missing = sorted(needed - set(spec.trusted_types))
    if missing:
        raise StageError(
            f"model {spec.name} needs skops to trust {missing} to load it back",
            f"review them and add them to trusted_types in {spec.entry.origin} (models/README.md)",
        )
    seconds = time.monotonic() - started
    log.info("skops can load %s back (probe on %d rows: %.2f s)", spec.name, len(rows), seconds)
    return seconds
