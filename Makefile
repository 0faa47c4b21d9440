# The two set-up commands of README: `make demo` and `make test`. Both create .venv as needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,demo]'
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.bench-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,demo,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/driftwatch demo --dir demo-state

test: $(STAMP)
	bash .ci/test-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# The benchmark (benchmarks/, README "Performance"); not part of the test suite. Long: see BENCH_ARGS.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check driftwatch tests benchmarks
	$(BIN)/ruff format --check driftwatch tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-state .pytest_cache .mypy_cache .ruff_cache
