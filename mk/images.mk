# Container images (images/*/Dockerfile) and the container tier that runs them like
# KubernetesPodOperator pods. docs/images.md: sizes, budgets, what takes the space.
# No registry here: the stage/MLflow images build FROM a local debootstrap base when
# python:3.11-slim-bookworm cannot be pulled; the Airflow image builds only where its base can.

.PHONY: docker-engine base-image images lock-images test-containers

docker-engine: ## Make sure a Docker engine runs (installs docker.io, starts dockerd if needed)
	scripts/docker_engine.sh

base-image: docker-engine ## Build the local debootstrap Python base (skipped when it exists)
	scripts/build_base_image.sh

images: docker-engine ## Build every image with live progress; prints size/budget/time, fails over budget
	scripts/build_images.sh

lock-images: docker-engine ## Regenerate images/*/constraints.txt (pip freeze of a clean venv in the base)
	scripts/lock_images.sh

# Runs whenever an engine can be started; otherwise says why and skips the tier (REQUIRE_DOCKER=1
# turns that into a failure). Images are built first so their progress is shown live.
test-containers: venv ## Container tier: build images, run the pipeline as locked-down containers
	@if ! reason=$$(scripts/docker_engine.sh 2>&1); then \
	  echo "$$reason"; \
	  if [ "$${REQUIRE_DOCKER:-0}" = 1 ]; then exit 1; fi; \
	  echo "SKIP container tier: no Docker engine can be started here (reason above)"; exit 0; \
	fi
	scripts/build_images.sh extractor preprocessor trainer mlflow
	$(TIER) containers $(PY) -m pytest tests/containers -q
