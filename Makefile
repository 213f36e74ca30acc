# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest venv sysdeps train bench benchmark-set clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 13) else "error: Python 3.11 or 3.12 is needed (mediapipe 0.10.21); install python3.11 and run make again")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

sysdeps:
	bash scripts/system-deps.sh


lint: venv
	$(BIN)/ruff check bridge tests models benchmarks scripts

typecheck: venv
	$(BIN)/mypy --strict bridge

pytest: venv sysdeps
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

demo: venv sysdeps
	bash scripts/demo.sh

train: venv
	$(BIN)/python -m pip install -q -e '.[train,dev]'
	$(BIN)/python -m models.keys.train

benchmark-set: venv sysdeps
	$(BIN)/python -m benchmarks.benchmark_set

bench: venv sysdeps
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
