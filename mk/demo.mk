# `make demo`: the whole pipeline on this machine (extract -> preprocess -> fit each model ->
# promote) with the shipped census data, as processes, then a table of models and the champion.
#   make demo                     local MLflow store: sqlite + artifacts under .demo/
#   make demo STORE=services      the servers of `make services` (reads .services/env.sh)
#   make demo DEMO_GRID=full      the DAG's full grids (minutes more); also DEMO_SEARCH=halving,
#                                 DEMO_MODELS=lgbm, DEMO_SOURCE=URI
.PHONY: demo demo-clean

STORE ?= local
DEMO_GRID ?= demo
DEMO_SEARCH ?= grid
DEMO_MODELS ?= lgbm,logreg
# Any extractor --source: the shipped CSV, or e.g. bigquery://PROJECT.DATASET.TABLE with services.
DEMO_SOURCE ?= $(ROOT)/data/census_adult_income.csv.gz

demo: venv ## Run the whole pipeline locally and print models, scores and the champion (STORE=local|services)
	$(PY) scripts/demo.py --store $(STORE) --grid $(DEMO_GRID) --search $(DEMO_SEARCH) --models $(DEMO_MODELS) --source $(DEMO_SOURCE)

demo-clean: ## Remove the local demo state (.demo/)
	rm -rf .demo
