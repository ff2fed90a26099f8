# Benchmarks (issue 8): the pipeline against the original in-process example, per-stage overhead,
# scaling with the data, image sizes. Not tests: nothing here asserts a timing. Results:
# bench/results/latest.json and the tables on stdout; docs/benchmarks.md records a full run.
#
#   make bench                                 # everything, ~30-40 min on 2 cores
#   make bench BASELINE_CAP=300 SCALES="1 10"  # shorter
#   make bench-quick                           # tiny grids, x1 only: the harness end to end

# Seconds a baseline model grid may run before it is killed (the ratio is then a lower bound).
BASELINE_CAP ?= 600
# Row multipliers of the census table for the scaling part.
SCALES ?= 1 10 100
# auto: stages also run as containers when Docker runs and the census-pipeline images exist.
CONTAINERS ?= auto
# Comma-separated subset of: baseline,pipeline,exhaustive,halving,containers,overhead,scaling,images
BENCH_PARTS ?= baseline,pipeline,exhaustive,halving,containers,overhead,scaling,images
# Extra options for bench/run.py, e.g. BENCH_ARGS="--mlflow-uri http://127.0.0.1:5000 --no-bigquery".
BENCH_ARGS ?=

.PHONY: bench bench-quick
bench: ## Benchmark baseline vs pipeline, overhead, scaling, images (BASELINE_CAP, SCALES, CONTAINERS)
	@test -x "$(PY)" || { echo "bench: ERROR $(PY) missing | fix: run 'make venv' first" >&2; exit 2; }
	cd "$(ROOT)" && PYTHONUNBUFFERED=1 "$(PY)" -m bench.run --baseline-cap "$(BASELINE_CAP)" \
	  --scales "$(SCALES)" --containers "$(CONTAINERS)" --parts "$(BENCH_PARTS)" $(BENCH_ARGS)

bench-quick: ## Run the benchmark harness end to end on tiny grids (a few minutes; figures not meaningful)
	@test -x "$(PY)" || { echo "bench: ERROR $(PY) missing | fix: run 'make venv' first" >&2; exit 2; }
	cd "$(ROOT)" && PYTHONUNBUFFERED=1 "$(PY)" -m bench.run --quick --containers "$(CONTAINERS)" \
	  --output bench/results/quick.json $(BENCH_ARGS)
