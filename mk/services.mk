# Real local stand-ins for the cloud services (fake-gcs-server, the BigQuery emulator, an MLflow
# server with artifacts on GCS) and the integration tier that runs the pipeline against them.
# The start/stop logic is tests/fixtures/servers.py; docs/services.md explains the servers' quirks.

.PHONY: services test-integration

services: venv ## Run GCS + BigQuery emulators and MLflow in the foreground; prints the env to export (Ctrl-C stops)
	$(PY) scripts/services.py

test-integration: venv ## Integration tier: BigQuery emulator -> extract -> preprocess -> fit -> promote on gs:// + MLflow
	$(TIER) integration $(PY) -m pytest tests/integration -q
