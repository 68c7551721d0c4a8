"""Alembic owns the schema: it builds it on both databases and matches the models exactly."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import inspect

from app import cli, create_app
from core import migrate
from core.db import database, make_engine
from migrations.schema import metadata
from tests.support import make_settings

TABLES = {"calls", "call_events"}


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(empty_url: str) -> None:
    migrate.upgrade(migrate.alembic_config(url=empty_url))
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, metadata())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    config = migrate.alembic_config(url=empty_url)
    migrate.upgrade(config)
    assert tables(empty_url) >= TABLES
    migrate.downgrade(config, "base")
    assert tables(empty_url) == set()
    migrate.upgrade(config)
    assert tables(empty_url) >= TABLES
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.head_revision()
    finally:
        engine.dispose()


def test_cli_db_upgrade_brings_an_empty_database_to_head(empty_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(empty_url, tmp_path))
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"], obj=_script_info(app))
        assert result.exit_code == 0, result.output
        assert f"database at revision {migrate.head_revision()}" in result.output
        assert tables(empty_url) >= TABLES
        current = CliRunner().invoke(cli, ["db", "current"], obj=_script_info(app))
        assert f"database: {migrate.head_revision()}" in current.output
    finally:
        database(app).engine.dispose()


def _script_info(app: Flask) -> ScriptInfo:
    return ScriptInfo(create_app=lambda: app)
