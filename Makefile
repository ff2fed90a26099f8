# Thin front door. Each area keeps its targets in mk/<area>.mk; `make help` lists them all.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

ROOT := $(abspath .)
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
AIRFLOW_VENV ?= $(ROOT)/.venv-airflow
AF_PY := $(AIRFLOW_VENV)/bin/python
# Runs one test tier and prints how long it took.
TIER := $(ROOT)/scripts/tier.sh

include $(sort $(wildcard mk/*.mk))

.PHONY: help
help: ## List the targets and the variables they take
	@echo "targets:"
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'
	@echo "variables (make TARGET VAR=value):"
	@grep -hE '^## [A-Z_]+=' $(MAKEFILE_LIST) | sed 's/^## /  /'
