# Reliability and security tier (issue 9): bad-input matrix, faults against real servers, retries
# without duplicates, caching, load on the tracking server, basic auth and RBAC.
# Needs .venv, .venv-airflow (DAG params) and PostgreSQL binaries (apt-get install postgresql).

.PHONY: test-reliability mlflow-load

test-reliability: venv venv-airflow ## Reliability tier: bad inputs, faults, retries, caching, MLflow load, auth (docs/reliability.md)
	$(TIER) reliability $(PY) -m pytest tests/reliability -q -rA -p no:cacheprovider

MLFLOW_URL ?= http://127.0.0.1:5000
mlflow-load: venv ## Load MLFLOW_URL with 8 writers + 50 readers for 20 s; prints requests/s and p99 latency
	$(PY) scripts/mlflow_load.py --url $(MLFLOW_URL) --writers 8 --readers 50 --seconds 20
