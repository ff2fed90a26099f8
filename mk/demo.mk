# `make demo`: the whole pipeline on this machine (extract -> preprocess -> fit each model ->
# promote) as processes, then a table of models and the champion. scripts/demo.py checks every
# variable below before the first stage runs and names the variable when one is wrong.
#   make demo                                  census, local MLflow store (sqlite + artifacts under .demo/)
#   make demo DATASET=penguins                 another dataset spec of datasets/, its own registered model
#   make demo STORE=services                   the servers of `make services` (census from the BigQuery emulator)
#   make demo DEMO_GRID=full DEMO_MODELS=lgbm  the DAG's full grids, one model
.PHONY: demo demo-clean

## STORE=local            demo: local (sqlite + files under .demo/) or services (`make services`)
STORE ?= local
## DATASET=census         demo: dataset spec of datasets/ (census, penguins, ...)
DATASET ?= census
## TARGET=                demo: one of the dataset's targets (default: its default_target)
TARGET ?=
## DEMO_GRID=demo         demo: grid of every model (demo, full) or a YAML file MODEL -> grid
DEMO_GRID ?= demo
## DEMO_SEARCH=grid       demo: grid (exhaustive) or halving (successive halving)
DEMO_SEARCH ?= grid
## DEMO_MODELS=lgbm,logreg demo: models of the catalogue (models/*.yaml), comma-separated
DEMO_MODELS ?= lgbm,logreg
## DEMO_SOURCE=           demo: any extractor --source (default: the dataset's shipped copy)
DEMO_SOURCE ?=

demo: venv ## Run the whole pipeline locally and print models, scores and the champion (variables below)
	$(PY) scripts/demo.py --store '$(STORE)' --dataset '$(DATASET)' --target '$(TARGET)' --grid '$(DEMO_GRID)' \
	  --search '$(DEMO_SEARCH)' --models '$(DEMO_MODELS)' --source '$(DEMO_SOURCE)'

demo-clean: ## Remove the local demo state (.demo/)
	rm -rf .demo
