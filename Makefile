# Two entry points: `make demo` runs the hub and its actors (options in ARGS, e.g.
# ARGS="--field-protocol iec104,iec61850"), `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The suite mostly waits on subprocesses and sockets, so two workers shorten it even on two cores.
# Each worker takes whole files, so a file's module-scoped fixtures (a demo run, a cluster) are
# set up once. Only `make test` runs in parallel: timed benchmarks need a single process.
PARALLEL ?= -n 2 --dist loadfile

.PHONY: demo test lint bench clean

$(BIN)/heila: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/heila
	$(BIN)/heila demo $(ARGS)

lint: $(BIN)/heila
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(BIN)/heila
	scripts/system-packages
	$(MAKE) lint
	$(BIN)/pytest $(PARALLEL)

bench: $(BIN)/heila
	scripts/system-packages
	$(BIN)/heila bench

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
