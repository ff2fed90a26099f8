"""One stratified, seeded train/test split with numpy.

The same allocation rule as scikit-learn's StratifiedShuffleSplit (test rows = ceil(test_size * n),
shared between the classes by largest remainder), without shipping scikit-learn + scipy in the
preprocessor image only for this.
"""

from __future__ import annotations

import math

import numpy as np
from pipeline_common.errors import StageError


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test), each in a seeded random order, with the class mix of `y` kept.

    The rows come out shuffled so that unshuffled K-fold CV downstream sees mixed folds."""
    n = len(y)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise StageError(
            f"the target has a single class ({classes.tolist()} in all {n} rows)",
            "use an input where both classes occur",
        )
    n_test = math.ceil(test_size * n)
    if n_test < len(classes) or n - n_test < len(classes):
        raise StageError(
            f"--test-size {test_size} leaves {n_test} test and {n - n_test} train rows of {n}: "
            f"too few for {len(classes)} classes",
            "use a larger input or a --test-size between 0.05 and 0.5",
        )
    exact = counts * n_test / n
    allocation = np.floor(exact).astype(int)
    leftover = n_test - allocation.sum()
    # Largest fractional parts first; ties go to the larger class, then the smaller label.
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - allocation[i]), -counts[i], i))
    for i in order[:leftover]:
        allocation[i] += 1
    rng = np.random.default_rng(seed)
    test_parts = []
    for cls, k in zip(classes, allocation, strict=True):
        members = np.flatnonzero(y == cls)
        test_parts.append(rng.permutation(members)[:k])
    test = np.concatenate(test_parts)
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    train = np.flatnonzero(~in_test)
    return rng.permutation(train), rng.permutation(test)
