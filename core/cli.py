"""`hotline db …`: schema migrations for operators."""

from __future__ import annotations

import click
from alembic.config import Config
from flask import current_app

from core import migrate
from core.db import database
from core.webhooks import settings


@click.group("db", help="Database schema (Alembic migrations).")
def db_cli() -> None:
    pass


def _config() -> Config:
    return migrate.alembic_config(url=settings().database_url)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Bring the database up to REVISION (default: the newest)."""
    with current_app.app_context():
        migrate.upgrade(_config(), revision)
        with database().engine.connect() as connection:
            click.echo(f"database at revision {migrate.current_revision(connection)}")


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the database back to REVISION ('base' removes every table)."""
    migrate.downgrade(_config(), revision)
    click.echo(f"database downgraded to {revision}")


@db_cli.command("current")
def current() -> None:
    """Show the database's revision and the newest one in the repository."""
    with database().engine.connect() as connection:
        click.echo(f"database: {migrate.current_revision(connection) or '(empty)'}")
    click.echo(f"head:     {migrate.head_revision()}")
