# The two commands: `make run` starts the whole service, `make test` runs every test. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	exec $(BIN)/python -m dev

lint: $(DEV_STAMP)
	$(BIN)/ruff check api worker sandbox dev tests celeryconfig.py
	$(BIN)/mypy api worker sandbox

test: $(DEV_STAMP) lint browser
	$(BIN)/pytest
	$(BIN)/python -m tests.rabbitmq_variant

# Debian's Chromium for the cashier page's browser test; that test skips when it cannot be had, so this never fails.
.PHONY: browser
browser:
	@command -v chromium >/dev/null || (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || echo "no chromium: browser test will skip"

# The schemathesis run of `make test`, in full: many more generated requests and stateful scenarios.
fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} FUZZ_SCENARIOS=$${FUZZ_SCENARIOS:-100} $(BIN)/pytest tests/integration/test_schemathesis.py

# The benchmark (README "Performance"): QUICK=1 for a short run, PROFILE=1 adds a round under py-spy,
# BENCH_ARGS passes more options (`.venv/bin/python -m bench --help`).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(if $(filter-out 0,$(QUICK)),--quick) $(if $(filter-out 0,$(PROFILE)),--profile) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
