# The Airflow DAGs (dags/) and their tier, run with real Airflow in its own pinned venv.

.PHONY: venv-airflow test-dags

venv-airflow: ## Create .venv-airflow (Airflow 3.3 + cncf-kubernetes provider) from constraints/airflow.txt
	scripts/bootstrap_airflow_venv.sh $(AIRFLOW_VENV)

# The whole-run tests execute every pod as a Docker container of its stage image, so the images
# are built first, as test-containers does (scripts/build_images.sh skips up-to-date ones); a
# Docker engine is required. DAG_PODS=process runs the stages as .venv processes instead: only
# when asked for, never as a silent fallback. Servers (fake-gcs-server, MLflow) come from .venv.
DAG_PODS ?= containers

test-dags: venv-airflow venv ## DAG tier: DagBag, rendered pods, dag.test() runs with every pod as a container (DAG_PODS=process: as processes)
	@case "$(DAG_PODS)" in \
	  containers) echo "test-dags: stage pods run as containers of their images; building them first"; \
	    scripts/docker_engine.sh && scripts/build_images.sh extractor preprocessor trainer ;; \
	  process) echo "test-dags: DAG_PODS=process: stage pods run as .venv processes, NOT as containers" ;; \
	  *) echo "ERROR [dags] DAG_PODS=$(DAG_PODS) | fix: DAG_PODS=containers (default) or DAG_PODS=process" >&2; exit 2 ;; \
	esac
	DAG_PODS=$(DAG_PODS) $(TIER) dags $(AF_PY) -m pytest tests/dags -q
