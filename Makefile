# The two commands of the README: `make run` (demo on SQLite) and `make test` (everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The test suite runs every database test on SQLite and on this PostgreSQL database; where no
# PostgreSQL answers, those tests are skipped with a reason (under CI=true they fail instead).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

.PHONY: install run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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
