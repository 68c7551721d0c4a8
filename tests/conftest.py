"""Fixtures: every database test runs on SQLite and on PostgreSQL (TEST_DATABASE_URL).

Each backend gets a fresh database (a SQLite file, or a PostgreSQL schema of its own) migrated
to head once per session with Alembic; each test runs inside a transaction that is rolled back,
the app's sessions joining it through savepoints. Under CI=true a missing PostgreSQL fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import create_app
from config.settings import Environment, Settings
from core import migrate
from core.db import database, make_engine
from devtools.databases import scratch_database
from tests.support import TwilioSigner

TEST_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://hotline.example.org"


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "twilio_auth_token": TEST_AUTH_TOKEN,
        "public_base_url": PUBLIC_BASE_URL,
        "recordings_dir": tmp_path / "recordings",
        "spool_dir": tmp_path / "spool",
        "fallback_number": "+8613900139000",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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


@contextlib.contextmanager
def app_in_transaction(settings: Settings) -> Iterator[Flask]:
    """An app on `settings` whose sessions join one transaction, rolled back at the end."""
    app = create_app(settings)
    db = database(app)
    connection = db.engine.connect()
    transaction = connection.begin()
    db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield app
    finally:
        transaction.rollback()
        connection.close()
        db.engine.dispose()


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
