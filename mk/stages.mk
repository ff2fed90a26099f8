# Stage packages (extractor, preprocessor; the trainer's CLI tests live in tests/cli too).

.PHONY: test-unit test-cli

test-unit: venv ## Unit tests: extractor reader, cleaning, features, split, pipeline_common (real census data)
	$(TIER) unit $(PY) -m pytest tests/unit -q

test-cli: venv ## CLI tests: each stage run as a process, checked through return.json (incl. gs:// on fake-gcs-server)
	$(TIER) cli $(PY) -m pytest tests/cli -q
