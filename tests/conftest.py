"""Fixtures: every database test runs on SQLite and on PostgreSQL (TEST_DATABASE_URL).

Each backend gets a fresh database (a SQLite file, or a PostgreSQL schema of its own) migrated
to head once per session with Alembic; each test runs inside a transaction that is rolled back,
the app's sessions joining it through savepoints. Under CI=true a missing PostgreSQL fails.

Every TwiML document any Flask app answers during a test (the `app` fixture's, apps tests build
themselves, the softphone's in-process transport) is checked against Twilio's TwiML definitions
(core/twiml_contract.py); a test whose requests got TwiML Twilio would refuse or misread fails at
teardown, naming the request and each violation. `twiml_violations` is that test's list.

What tests import (settings, apps in a transaction, signed requests, the TwiML check) is in
tests/support/; its modules that define fixtures are this conftest's plugins, so every test
directory sees their fixtures (`prism`, `media`, `media_settings`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request, request_finished
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from config.settings import Settings
from core import migrate
from core.db import database, make_engine
from tests.support import TwilioSigner, app_in_transaction, make_settings, twiml_problems
from tools.databases import scratch_database

#: The support modules that define fixtures shared across test directories.
pytest_plugins = ("tests.support.prism", "tests.support.recordings")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql":
        problem = _postgresql_problem(os.environ.get("TEST_DATABASE_URL"))
        if problem and os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and PostgreSQL tests cannot run: {problem}")
        if problem:
            pytest.skip(f"PostgreSQL tests skipped: {problem} (see README)")
    return name


def _postgresql_problem(url: str | None) -> str | None:
    """Why PostgreSQL tests cannot run, or None when they can."""
    if not url:
        return "TEST_DATABASE_URL is not set"
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"cannot connect to TEST_DATABASE_URL ({type(exc).__name__})"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of `backend`, removed afterwards; yields its URL."""
    postgresql = os.environ["TEST_DATABASE_URL"] if backend == "postgresql" else None
    with scratch_database(directory, postgresql) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the backend at the newest migration, shared by the session's tests."""
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        migrate.upgrade(migrate.alembic_config(url=url))
        yield url


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend, for migration tests."""
    with fresh_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    return make_settings(migrated_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The app on the migrated database, inside a transaction rolled back after the test."""
    with app_in_transaction(settings) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def twilio(client: FlaskClient, settings: Settings) -> TwilioSigner:
    return TwilioSigner(client, settings)


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session on the test's transaction, to assert on what the app wrote."""
    with database(app).sessions() as session:
        yield session


# --- every TwiML response is checked against Twilio's definitions ------------------------------

#: (request, violations) seen since the current test began; requests can come from other threads
#: (a live server), hence the lock.
_twiml_found: list[tuple[str, list[str]]] = []
_twiml_lock = threading.Lock()


def record_twiml(sender: Flask, response: Response, **extra: Any) -> None:
    """`request_finished` receiver: keep the violations of the response for the current test."""
    where = f"{request.method} {request.full_path.rstrip('?')}"
    try:
        problems = twiml_problems(request.path, response)
    except Exception as exc:  # an exception here would become the app's own error
        problems = [f"the TwiML check itself failed: {type(exc).__name__}: {exc}"]
    if problems:
        with _twiml_lock:
            _twiml_found.append((where, problems))


def pytest_configure(config: pytest.Config) -> None:
    # Every app of the session, whoever builds it: the signal is connected without a sender.
    request_finished.connect(record_twiml, weak=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    request_finished.disconnect(record_twiml)


@pytest.fixture(autouse=True)
def twiml_violations() -> Iterator[list[tuple[str, list[str]]]]:
    """The TwiML violations of this test's requests; any left at teardown fail the test."""
    with _twiml_lock:
        _twiml_found.clear()
    yield _twiml_found
    with _twiml_lock:
        found = list(_twiml_found)
        _twiml_found.clear()
    if found:
        report = "\n".join(
            f"  {where}\n" + "\n".join(f"    - {problem}" for problem in problems)
            for where, problems in found
        )
        pytest.fail(
            f"TwiML that breaks Twilio's contract (core/twiml_spec/):\n{report}", pytrace=False
        )
