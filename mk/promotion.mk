# The champion alias: its history and moving it back (docs/promotion.md). By default they act on
# `make demo`'s local store; export MLFLOW_TRACKING_URI (e.g. `source .services/env.sh`) for a server.
#   make ledger                                     the alias history as a table
#   make rollback                                   back to the previous champion
#   make rollback TO_VERSION=3 REASON="bad inputs"  to a given version, with the reason recorded
.PHONY: ledger rollback

MODEL_NAME ?= census-never-married
ALIAS ?= champion
TO_VERSION ?=
REASON ?=
DEMO_STORE := $(ROOT)/.demo/mlflow.db
# The tracking server the commands talk to: the environment's, else the demo's SQLite store.
PROMOTION_URI = $(or $(MLFLOW_TRACKING_URI),sqlite:///$(DEMO_STORE))

define require-store
	@if [ -z "$${MLFLOW_TRACKING_URI:-}" ] && [ ! -f '$(DEMO_STORE)' ]; then \
	  echo "ERROR [$(1)] no MLflow store: MLFLOW_TRACKING_URI is unset and $(DEMO_STORE) does not exist | fix: run 'make demo' first, or export MLFLOW_TRACKING_URI" >&2; \
	  exit 2; \
	fi
endef

ledger: venv ## Print the champion alias history: which version held it, when, why (MODEL_NAME, ALIAS)
	$(call require-store,ledger)
	MLFLOW_TRACKING_URI='$(PROMOTION_URI)' XCOM_DIR='$(ROOT)/.artifacts/xcom/ledger' \
	  $(PY) -m trainer ledger --model-name '$(MODEL_NAME)' --alias '$(ALIAS)'

rollback: venv ## Move the champion alias back to the previous champion, or TO_VERSION=N (REASON="...")
	$(call require-store,rollback)
	MLFLOW_TRACKING_URI='$(PROMOTION_URI)' XCOM_DIR='$(ROOT)/.artifacts/xcom/rollback' \
	  $(PY) -m trainer rollback --model-name '$(MODEL_NAME)' --alias '$(ALIAS)' \
	  $(if $(TO_VERSION),--to-version '$(TO_VERSION)') $(if $(REASON),--reason '$(REASON)')
