# Charts tier: helm/mlflow rendered with Helm's engine, helm/airflow values against the official
# chart's schema, k8s/ manifests — Kubernetes schema (strict), restricted PSS, least-privilege RBAC.
# Needs no cluster: the helm CLI is used when on PATH, else helm-python-sdk (Helm's Go SDK in-process).

.PHONY: schemas test-charts helm-lint

# The pinned public schemas (skaffold.yaml, the Airflow chart's values schema and defaults) the tier
# validates against: downloaded at the commits schemas/schemas.lock names, sha256-checked, into
# .cache/schemas/. The tier also accepts $SCHEMAS_DIR or ../shared/schemas (tests/helpers/schemas.py).
schemas: ## Fetch the pinned chart/skaffold schemas into .cache/schemas (sha256-verified)
	scripts/fetch_schemas.sh

test-charts: venv ## Render and validate helm/mlflow, helm/airflow values and k8s/ (no cluster)
	$(TIER) charts $(PY) -m pytest tests/charts -q

helm-lint: venv ## helm lint --strict of helm/mlflow with the default, kind and production values
	@if command -v helm >/dev/null 2>&1; then \
	  echo "helm lint (CLI $$(helm version --short))"; \
	  helm lint --strict helm/mlflow && helm lint --strict helm/mlflow -f helm/mlflow/values-kind.yaml; \
	else \
	  echo "no helm CLI: linting through helm-python-sdk"; \
	fi
	$(PY) -m pytest tests/charts/test_mlflow_chart.py -q -k test_lint_is_clean
