# kind: a local Kubernetes cluster running the whole pipeline (README.md (section Run it on kind)).
#   make kind-up deploy trigger DAG=<dag_id>   then open http://localhost:8080 and http://localhost:5000
# Tools: docker, kind (v0.33.x, the release k8s/kind-config.yaml's node image is built for),
# kubectl, helm (v3) and skaffold (v2.x); README.md (section Run it on kind) has the versions CI uses.

KIND_CLUSTER ?= census
KIND_CONTEXT := kind-$(KIND_CLUSTER)
KIND_CONFIG := $(ROOT)/k8s/kind-config.yaml
# The Airflow api-server and MLflow through the NodePorts kind maps to the host.
AIRFLOW_URL ?= http://localhost:8080
MLFLOW_URL ?= http://localhost:5000
# The DAG that trains every model and promotes the champion (override with DAG=...).
# Credentials: AIRFLOW_USERNAME (default: admin, the kind dev user) and AIRFLOW_PASSWORD (default:
# read from the airflow-admin Secret that `make deploy` generates on kind).
DAG ?= mlflow-multimodel-dag
# JSON passed as the DAG run's conf (the DAG's params: models, grid, ...).
CONF ?= {"models": ["lgbm", "logreg"], "grid": "demo"}
# Seconds `make trigger` follows a run before giving up.
TRIGGER_TIMEOUT ?= 3600
E2E_ARTIFACTS := $(ROOT)/.artifacts/e2e

# One clear line and a non-zero exit when a tool is missing, before any work starts.
define require-tools
	@for tool in $(1); do \
	  command -v "$$tool" >/dev/null 2>&1 || { \
	    echo "ERROR [kind] '$$tool' is not on PATH | fix: install $$tool (README.md (section Run it on kind) lists the versions)" >&2; \
	    exit 2; }; \
	done
endef

.PHONY: kind-up deploy trigger e2e test-e2e kind-down

kind-up: ## Create (or reuse) the kind cluster from k8s/kind-config.yaml
	$(call require-tools,docker kind kubectl)
	@if kind get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind-up: cluster '$(KIND_CLUSTER)' exists, reusing it"; \
	else \
	  echo "kind-up: creating cluster '$(KIND_CLUSTER)' (node image pinned in k8s/kind-config.yaml) ..."; \
	  kind create cluster --name '$(KIND_CLUSTER)' --config '$(KIND_CONFIG)' --wait 180s; \
	fi
	@kubectl --context '$(KIND_CONTEXT)' get nodes -o wide
	@echo "kind-up: ready; next: make deploy"

deploy: ## Build all images, load them into kind, apply k8s/ and install MLflow + Airflow (skaffold run -p kind)
	$(call require-tools,docker kind kubectl helm skaffold)
	@kubectl config get-contexts '$(KIND_CONTEXT)' >/dev/null 2>&1 || { \
	  echo "ERROR [kind] no kube context '$(KIND_CONTEXT)' | fix: make kind-up" >&2; exit 2; }
	@echo "deploy: skaffold run -p kind (first run builds 5 images and pulls charts: ~15-25 min)"
	skaffold run -p kind --kube-context '$(KIND_CONTEXT)' --status-check=true
	@echo "deploy: done; Airflow UI $(AIRFLOW_URL)  MLflow UI $(MLFLOW_URL)"

trigger: ## Trigger DAG=<dag_id> through the Airflow REST API and follow it to the end
	@export AIRFLOW_USERNAME="$${AIRFLOW_USERNAME:-admin}"; \
	if [ -z "$${AIRFLOW_PASSWORD:-}" ]; then \
	  AIRFLOW_PASSWORD="$$(kubectl --context '$(KIND_CONTEXT)' -n airflow get secret airflow-admin \
	    -o jsonpath='{.data.password}' | base64 -d)"; export AIRFLOW_PASSWORD; \
	fi; \
	$(PY) $(ROOT)/scripts/trigger_dag.py '$(DAG)' --url '$(AIRFLOW_URL)' --conf '$(CONF)' \
	  --timeout '$(TRIGGER_TIMEOUT)'

test-e2e: venv ## e2e tier: kind cluster end to end (skips, naming what is missing, without docker/kind/helm/skaffold/registry)
	@mkdir -p '$(E2E_ARTIFACTS)'
	$(TIER) e2e $(PY) -m pytest tests/e2e -m e2e -p no:cacheprovider

e2e: venv kind-up deploy ## Full run on kind: cluster, deploy, trigger the multi-model DAG, assert (fails if a tool is missing)
	@mkdir -p '$(E2E_ARTIFACTS)'
	E2E_DAG_ID='$(DAG)' $(TIER) e2e $(PY) -m pytest tests/e2e -m e2e -p no:cacheprovider

kind-down: ## Delete the kind cluster
	$(call require-tools,kind)
	kind delete cluster --name '$(KIND_CLUSTER)'
