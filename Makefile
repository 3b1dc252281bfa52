# microapi developer commands.  `make test` and `make run` work on a fresh clone:
# they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
APP ?= examples.hello.wsgi:api

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: serve the demo app with gunicorn on http://127.0.0.1:8000
run: $(STAMP)
	@echo "microapi demo: http://$(HOST):$(PORT)/api/hello  (Ctrl-C to stop)"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --worker-class gthread --threads 2 $(APP)

## test: lint, format check, type check, and the test suite with coverage
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term

## bench: in-process benchmark against Falcon, Flask, Bottle, werkzeug, bare WSGI
bench: $(STAMP)
	$(BIN)/python -m benchmarks.inprocess

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage htmlcov
