# The two commands of the README: `make run` (demo on SQLite) and `make test` (everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The test suite runs every database test on SQLite and on this PostgreSQL database; where no
# PostgreSQL answers, those tests are skipped with a reason (under CI=true they fail instead).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL
# Stoplight Prism (package-lock.json) serves Twilio's OpenAPI spec to the REST contract tests
# (tests/tools/test_twilio_contract.py). Without npm those tests are skipped with a warning; under
# CI=true a missing npm or a failing `npm ci` stops the build.
NPM ?= npm
NODE_STAMP := node_modules/.installed-stamp

.PHONY: install run test test-quick lint clean

$(STAMP): pyproject.toml tools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The developer tools (softphone, bench, Twilio mock): outside the product's wheel.
	$(BIN)/python -m pip install --quiet --no-deps -e ./tools
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

# Where Prism and Twilio's spec are there (and TWILIO_API_BASE_URL is not set), the demo's
# Twilio REST calls (SMS, survey calls) go to a local Prism mock of Twilio's API on port 4010.
MOCK_PORT ?= 4010
MOCK = $(if $(TWILIO_API_BASE_URL),,$(shell $(BIN)/python -c 'from tools.twilio_mock import PRISM_BIN, spec_path; print("yes" if PRISM_BIN.exists() and spec_path().is_file() else "")' 2>/dev/null))

# The web server, the job worker and the mock run as background children of one shell, which
# waits for the server. On Ctrl-C or a TERM (or when the server stops by itself) the shell stops
# its own children by PID, waits for them and ends without an error. Not `trap 'kill 0'`: that
# signals make and the shell itself too, and dash, re-entering its TERM trap for the TERM it had
# just sent itself, recursed until it crashed: "make: *** [run] Segmentation fault".
run: install
	$(BIN)/hotline db upgrade
	$(BIN)/hotline roster import --if-empty config/roster.yaml
	$(BIN)/hotline providers sync
	$(BIN)/hotline users demo
	# The web server, the job worker (and the Twilio mock) together; Ctrl-C stops them all.
	pids=; stop() { trap - EXIT INT TERM; kill $$pids 2>/dev/null; wait; }; \
	trap 'stop; exit 0' INT TERM; trap stop EXIT; \
	$(if $(MOCK),export TWILIO_API_BASE_URL=http://127.0.0.1:$(MOCK_PORT); \
	  echo "Twilio's REST API: a Prism mock on $$TWILIO_API_BASE_URL (log: instance/twilio-mock.log)"; \
	  $(BIN)/python -m tools.twilio_mock --port $(MOCK_PORT) >instance/twilio-mock.log 2>&1 & \
	  pids="$$pids $$!";,) \
	$(BIN)/hotline worker & pids="$$pids $$!"; \
	$(BIN)/hotline run --host 127.0.0.1 --port 5000 & pids="$$pids $$!"; \
	wait $$!

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# The architecture: layers, no package importing another's views, no cycles (pyproject.toml's
	# import-linter contracts), and no first-party import hidden inside a function.
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m tools.check_imports

test: lint
	$(BIN)/pytest

# Everything but the slow system tests (tests/system/: real processes, servers, a browser).
test-quick: lint
	$(BIN)/pytest -m "not system"

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
