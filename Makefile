# microapi developer commands.  `make test` and `make run` work on a fresh clone:
# they create their virtualenv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# NOTE: make run has its own virtualenv with only what the demo needs (the runtime
# dependencies and the todos example's extras), not the ~490 MB development toolchain.
RUN_VENV := .venv-run
RUN_BIN := $(RUN_VENV)/bin
RUN_EXTRAS ?= db,docs
RUN_STAMP := $(RUN_VENV)/.installed-$(RUN_EXTRAS)
HOST ?= 127.0.0.1
PORT ?= 8000
APP ?= examples.todos.wsgi:api

.PHONY: run test lint typecheck pytest bench bench-deps clean browser-deps soak fuzz multihost \
	nginx-deps dist swagger-ui docs

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(RUN_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_BIN)/python -m pip install --quiet --upgrade pip
	$(RUN_BIN)/python -m pip install --quiet -e '.[$(RUN_EXTRAS)]'
	touch $(RUN_STAMP)

## run: serve the demo app (microapi serve: gunicorn, an access line per request with
##      its request id) on http://127.0.0.1:8000, from .venv-run; another example:
##      make run APP=examples.hello.wsgi:api (RUN_EXTRAS= for extras it needs)
run: $(RUN_STAMP)
	@echo "microapi demo: http://$(HOST):$(PORT)/api/todos  docs: http://$(HOST):$(PORT)/docs  (Ctrl-C to stop)"
	$(RUN_BIN)/microapi serve $(APP) --bind $(HOST):$(PORT) --workers 2 --threads 2

## dist: the sdist and the wheel in dist/, checked by twine (what would be uploaded)
dist: $(STAMP)
	rm -rf dist build
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

## test: lint, format check, type check, the documentation site's strict build, and the
##       test suite with coverage (which runs every Python block of the docs and README)
test: browser-deps lint typecheck docs pytest

## docs: build the documentation site (mkdocs.yml, docs/) into site/, strict: a broken
##       link, anchor or reference, or any warning, fails; the site extra, in dev
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## swagger-ui: vendor Swagger UI $(SWAGGER_UI_VERSION) from npm's swagger-ui-dist into microapi/swagger_ui/
SWAGGER_UI_VERSION ?= 5.36.0
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css favicon-32x32.png favicon-16x16.png \
	LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt
swagger-ui:
	rm -rf .swagger-ui && mkdir .swagger-ui
	curl -fsSL https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz \
		| tar -xz -C .swagger-ui
	cd .swagger-ui/package && cp $(SWAGGER_UI_FILES) ../../microapi/swagger_ui/
	sed -i 's/swagger-ui-dist`\](\([^)]*\)) \*\*[0-9.]*\*\*/swagger-ui-dist`](\1) **$(SWAGGER_UI_VERSION)**/' \
		microapi/swagger_ui/README.md
	rm -rf .swagger-ui

## browser-deps: Debian's chromium, for tests/test_docs_browser.py (apt-get, as root)
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium chromium-driver; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term

## bench: in-process and server benchmarks against Falcon, Flask, Bottle, werkzeug,
##        bare WSGI (gunicorn and granian, 1 and 2 workers), the slow-client comparison,
##        import time; writes benchmarks/results/ (JSON, PNG chart, README.md), ~30 minutes
bench: $(STAMP) bench-deps
	mkdir -p benchmarks/results
	$(BIN)/python -m benchmarks.inprocess --json benchmarks/results/inprocess.json
	$(BIN)/python -m benchmarks.server --pin --json benchmarks/results/server.json
	$(BIN)/python -m benchmarks.slowclients --json benchmarks/results/slowclients.json
	$(BIN)/python -m benchmarks.importtime --json benchmarks/results/importtime.json
	$(BIN)/python -m benchmarks.chart

## bench-deps: Debian's wrk, the load generator of the server mode (apt-get, as root;
##             without it the server mode falls back to a slower Python loader)
bench-deps:
	@command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; } || \
		echo "wrk not installed: the server mode uses its Python load generator"

## soak: the long load, fault and memory runs (pytest -m soak): tens of thousands of
##       requests through gunicorn over SQLite and PostgreSQL, and 100 000 against one
##       worker whose memory must stay flat; prints the figures, ~3 minutes
soak: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -m soak -v -s

## multihost: two app hosts (127.0.0.2, 127.0.0.3) behind nginx (deploy/nginx.conf),
##            sharing Redis and PostgreSQL: exact limits, cross-host sessions and tokens,
##            rolling key rotation, a host and Redis killed under load; prints the figures
##            of docs/many-hosts.md, ~1 minute
multihost: $(STAMP) nginx-deps
	$(BIN)/pytest -p no:cacheprovider -m multihost -v -s tests/multihost

## nginx-deps: Debian's nginx, the load balancer of make multihost (apt-get, as root)
nginx-deps:
	@test -x /usr/sbin/nginx || { apt-get update && apt-get install -y nginx; }

## fuzz: the property tests, the raw-WSGI fuzz target and the raw-HTTP framing fuzzer
##       (real sockets, both servers) with many random examples (Hypothesis profile
##       "fuzz", FUZZ_EXAMPLES=2000 each by default), then schemathesis
##       against every example's OpenAPI document on both servers (50 cases an
##       operation), ~11 minutes
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -p no:cacheprovider --hypothesis-show-statistics \
		tests/test_fuzz.py tests/test_servers_framing.py tests/routing/ \
		tests/test_bodies.py tests/test_jsonutil.py tests/test_errors.py tests/test_request.py
	OPENAPI_CASES=50 $(BIN)/pytest -p no:cacheprovider -s tests/test_openapi_conformance.py

clean:
	rm -rf $(VENV) $(RUN_VENV) dist build site .mypy_cache .pytest_cache .ruff_cache .coverage htmlcov
