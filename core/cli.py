"""`hotline db …`: schema migrations for operators."""

from __future__ import annotations

import click
from alembic.config import Config
from flask import current_app
from huey.consumer import Consumer
from sqlalchemy import func, select

from core import migrate
from core.db import database
from core.jobs import Job, JobState, run_due
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


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
def worker_command(workers: int) -> None:
    """Run the background job consumer (downloads, SMS, deadlines) with the periodic sweep."""
    run_due(current_app._get_current_object())  # type: ignore[attr-defined]
    Consumer(current_app.extensions["hotline.huey"], workers=workers, periodic=True).run()


@click.group("jobs", help="Background jobs (the database is their source of truth).")
def jobs_cli() -> None:
    pass


@jobs_cli.command("status")
def jobs_status() -> None:
    """Count jobs by kind and state; list failed ones with their last error."""
    session = database().sessions()
    rows = session.execute(
        select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)
    ).all()
    for kind, state, count in rows:
        click.echo(f"{kind:<24} {state.value:<8} {count}")
    for job in session.scalars(select(Job).where(Job.state == JobState.FAILED).limit(20)):
        click.echo(f"FAILED {job.kind} {job.key}: {job.last_error}")


@jobs_cli.command("run-due")
def jobs_run_due() -> None:
    """Run every due job now in this process (without a worker)."""
    click.echo(str(run_due(current_app._get_current_object())))  # type: ignore[attr-defined]
