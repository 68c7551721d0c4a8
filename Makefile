# The two commands of the README: `make run` (demo on SQLite) and `make test` (everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The test suite runs every database test on SQLite and on this PostgreSQL database; where no
# PostgreSQL answers, those tests are skipped with a reason (under CI=true they fail instead).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL
# Stoplight Prism (package-lock.json) serves Twilio's OpenAPI spec to tests/test_twilio_contract.py.
# Without npm those tests are skipped with a warning; under CI=true a missing npm or a failing
# `npm ci` stops the build.
NPM ?= npm
NODE_STAMP := node_modules/.installed-stamp

.PHONY: install run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@if ! command -v $(NPM) >/dev/null 2>&1; then \
	  if [ "$${CI:-}" = true ]; then \
	    echo "error: CI=true and npm is missing (Node.js >= 20 and npm install Prism)" >&2; exit 1; \
	  fi; \
	  echo "warning: npm is missing: Prism is not installed, the Twilio contract tests will skip" >&2; \
	elif $(NPM) ci --no-audit --no-fund; then \
	  touch $@; \
	elif [ "$${CI:-}" = true ]; then \
	  echo "error: CI=true and 'npm ci' failed" >&2; exit 1; \
	else \
	  echo "warning: 'npm ci' failed: the Twilio contract tests will skip" >&2; \
	fi

install: $(STAMP) $(if $(wildcard package-lock.json),$(NODE_STAMP))

run: install
	$(BIN)/hotline db upgrade
	$(BIN)/hotline roster import --if-empty config/roster.yaml
	$(BIN)/hotline providers sync
	# The web server and the job worker together; Ctrl-C stops both.
	trap 'kill 0' EXIT INT TERM; $(BIN)/hotline worker & $(BIN)/hotline run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
