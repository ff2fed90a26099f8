# Development basics: environments, lint, the aggregate test target.

# Every tier that can run on a machine; each prints its own wall time (scripts/tier.sh) and the
# e2e tier skips with a reason where no kind cluster can start (so it is not the last one: the
# closing pytest line of `make test` should count tests that ran).
TEST_TIERS ?= lint test-unit test-cli test-integration test-charts test-dags test-e2e test-containers test-reliability

.PHONY: venv lint fmt test clean

venv: $(VENV)/.installed ## Create .venv with every stage package (editable) and the dev tools
$(VENV)/.installed: scripts/bootstrap_venv.sh constraints/dev.txt $(wildcard images/*/pyproject.toml) pyproject.toml
	scripts/bootstrap_venv.sh $(VENV)
	@touch $@

lint: venv ## ruff over the whole tree
	$(TIER) lint bash -c "$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check ."

fmt: venv ## ruff format + autofix
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

test: ## Run every test tier this machine can run, then a table of tier times
	@rm -f .artifacts/tier-times.txt
	@rc=0; $(MAKE) --no-print-directory -k $(TEST_TIERS) || rc=$$?; \
	  echo; echo "tier               seconds  result"; \
	  awk '{printf "%-18s %7s  %s\n", $$1, $$2, ($$3 == 0 ? "ok" : "FAILED")}' .artifacts/tier-times.txt; \
	  exit $$rc

clean: ## Remove local state (.demo, .artifacts, caches); keeps the venvs
	rm -rf .demo .artifacts .pytest_cache .ruff_cache
