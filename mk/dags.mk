# The Airflow DAGs (dags/) and their tier, run with real Airflow in its own pinned venv.

.PHONY: venv-airflow test-dags

venv-airflow: ## Create .venv-airflow (Airflow 3.3 + cncf-kubernetes provider) from constraints/airflow.txt
	scripts/bootstrap_airflow_venv.sh $(AIRFLOW_VENV)

# The whole-run tests execute the real stages (images when built, else .venv processes) against
# fake-gcs-server and an MLflow server started from .venv, hence both venvs.
test-dags: venv-airflow venv ## DAG tier: DagBag, rendered pods (k8s schema + restricted PSS), dag.test() runs
	$(TIER) dags $(AF_PY) -m pytest tests/dags -q
