"""`hotline db …` (schema migrations), `hotline worker` and `hotline jobs …` for operators.

Times are printed in the hotline's zone (TIMEZONE), and the output says which once.
"""

from __future__ import annotations

import click
from alembic.config import Config
from flask import current_app
from huey.consumer import Consumer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import migrate
from core.db import database
from core.jobs import Job, JobState, run_due
from core.times import local
from core.webhooks import settings

#: At most this many failed (and as many retrying) jobs are listed by `hotline jobs status`.
LISTED = 20
#: A job's last error is shown on one line of at most this many characters.
ERROR_WIDTH = 160
#: How `hotline jobs run-due` words each outcome of `run_job`, in the order it lists them.
OUTCOMES = {
    "done": "done",
    "retry": "will retry",
    "failed": "failed for good",
    "deferred": "deferred (cannot run yet)",
    "skipped": "skipped (taken or finished elsewhere)",
}


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
    """Count jobs by kind and state; list failed and retrying ones with their last error."""
    with database().sessions() as session:
        click.echo("\n".join(_status_lines(session)))


def _status_lines(session: Session) -> list[str]:
    rows = session.execute(
        select(Job.kind, Job.state, func.count())
        .group_by(Job.kind, Job.state)
        .order_by(Job.kind, Job.state)
    ).all()
    if not rows:
        return ["no jobs"]
    lines = [f"{'kind':<24} {'state':<8} count"]
    lines += [f"{kind:<24} {state.value:<8} {count}" for kind, state, count in rows]
    failed = Job.state == JobState.FAILED
    retrying = (Job.state == JobState.PENDING) & Job.last_error.is_not(None)
    listed = [
        (title, session.scalar(select(func.count()).select_from(Job).where(where)) or 0, where)
        for title, where in (("failed, no more tries", failed), ("retrying", retrying))
    ]
    if not any(count for _, count, _ in listed):
        return [*lines, "no failed or retrying jobs"]
    tz = settings().tz
    lines.append(f"times in {settings().timezone}")
    for title, count, where in listed:
        if not count:
            continue
        lines.append(f"{title} ({count}):")
        newest_first = select(Job).where(where).order_by(Job.updated_at.desc(), Job.id.desc())
        for job in session.scalars(newest_first.limit(LISTED)):
            when = (
                f"gave up {local(job.updated_at, tz)}"
                if job.state is JobState.FAILED
                else f"next try {local(job.due_at, tz)}"
            )
            lines.append(
                f"  {job.kind} {job.key}  attempts {job.attempts}/{job.max_attempts}  {when}  "
                f"{_one_line(job.last_error)}"
            )
        if count > LISTED:
            lines.append(f"  … and {count - LISTED} more")
    return lines


@jobs_cli.command("run-due")
def jobs_run_due() -> None:
    """Run every due job now in this process (without a worker)."""
    outcome = run_due(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(describe_run(outcome))


def describe_run(outcome: dict[str, int]) -> str:
    """What `run_due` did, as a line: "ran 5 due jobs: 1 done, 4 will retry"."""
    total = sum(outcome.values())
    if not total:
        return "no jobs were due"
    words = [*OUTCOMES, *sorted(set(outcome) - set(OUTCOMES))]
    parts = [f"{outcome[key]} {OUTCOMES.get(key, key)}" for key in words if outcome.get(key)]
    line = f"ran {total} due job{'s' if total != 1 else ''}: {', '.join(parts)}"
    if outcome.get("retry") or outcome.get("failed"):
        line += " (their errors: `hotline jobs status`)"
    return line


def _one_line(error: str | None) -> str:
    """A job's last error on one line, cut to ERROR_WIDTH characters."""
    text = " ".join((error or "-").split())
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"
