"""Entry point of the trainer image: `python -m trainer train|promote ...`."""

from __future__ import annotations

import sys


def main() -> int:
    # Before numpy/LightGBM load: one native thread per process. Parallelism comes from joblib
    # workers sized to the CPU budget; OpenMP/BLAS pools on top would oversubscribe it.
    from pipeline_common.resources import pin_native_threads

    pin_native_threads(1)
    from trainer.cli import console

    return console()


if __name__ == "__main__":
    sys.exit(main())
