"""Background jobs: the database is the source of truth, Huey only delivers.

Every scheduled thing (a recording to download, an SMS to send, a deadline to check) is a row
in `jobs` with a due time, written in the same transaction as whatever caused it. After the
commit it is pushed to Huey (`SqliteHuey` by default, `RedisHuey` with REDIS_URL). A worker
claims a job with one conditional UPDATE, so two deliveries never run it twice at once, and
holds it under a lease. A periodic sweep pushes every due job again — so a crashed worker (its
lease runs out), a flushed Redis or a lost message loses nothing. Handlers are idempotent:
after a crash mid-job, the job runs again.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context
from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import Index, String, Text, UniqueConstraint, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.settings import Settings
from core.db import (
    Base,
    BigIntPK,
    Database,
    JSONDoc,
    UTCDateTime,
    insert_if_missing,
    str_enum,
    utcnow,
    writer,
)

log = logging.getLogger(__name__)

#: kind → handler(session, payload, settings); the handler flushes, the runner commits.
Handler = Callable[[Session, dict[str, Any], Settings], None]
HANDLERS: dict[str, Handler] = {}
SWEEP_LIMIT = 500


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One thing to do, once, at or after `due_at`."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: What makes two jobs the same job (a recording SID, a case number + purpose…).
    key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    state: Mapped[JobState] = mapped_column(str_enum(JobState, length=16))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_jobs_kind_key"),
        Index("ix_jobs_state_due_at", "state", "due_at"),
    )


class GiveUp(Exception):
    """Raised by a handler whose job can never succeed (Twilio refused it for good).

    What the handler committed stays; the job is failed at once, with this as its error, so
    `hotline jobs status` shows it instead of a job that looks done.
    """


class Defer(Exception):
    """Raised by a handler that cannot run yet (a pace limit): run again at `until`.

    Nothing the handler did is kept, and the try does not count as an attempt.
    """

    def __init__(self, until: dt.datetime, reason: str = "") -> None:
        super().__init__(reason or f"deferred until {until.isoformat()}")
        self.until = until


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of a job kind."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def schedule(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    due_at: dt.datetime | None = None,
    max_attempts: int = 8,
) -> int | None:
    """Add a job in the caller's transaction (a second one with the same kind and key is a no-op).

    Returns the new job's id (None when it existed). It runs once the transaction commits and
    a worker sees it: at once if `push_later` got the id, at the latest on the next sweep.
    """
    now = utcnow()
    job_id: int | None = insert_if_missing(
        session,
        Job,
        {
            "kind": kind,
            "key": key[:128],
            "payload": payload,
            "state": JobState.PENDING,
            "due_at": due_at or now,
            "attempts": 0,
            "max_attempts": max_attempts,
            "created_at": now,
            "updated_at": now,
        },
        unique=("kind", "key"),
        returning="id",
    )
    return job_id


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retry `attempts`: 30 s, 1 min, 2 min … capped at 1 h."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def run_job(
    database: Database, settings: Settings, job_id: int, now: dt.datetime | None = None
) -> str:
    """Claim and run one job if it is due and free; returns what happened (for logs and tests)."""
    now = now or utcnow()
    with database.sessions() as session:
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.due_at <= now,
                or_(
                    Job.state == JobState.PENDING,
                    (Job.state == JobState.RUNNING) & (Job.locked_until < now),
                ),
            )
            .values(
                state=JobState.RUNNING,
                locked_until=now + dt.timedelta(seconds=settings.job_lease_s),
                attempts=Job.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not getattr(claimed, "rowcount", 0):
            return "skipped"
        job = session.get(Job, job_id, populate_existing=True)
        if job is None:
            return "skipped"
        kind, payload = job.kind, dict(job.payload)
        # End the read before the handler's network calls: on SQLite a transaction that read
        # before another process wrote cannot write afterwards.
        session.rollback()
        try:
            HANDLERS[kind](session, payload, settings)
            _finish(session, job_id, state=JobState.DONE, done_at=utcnow(), last_error=None)
            return "done"
        except Defer as defer:
            session.rollback()
            _finish(
                session,
                job_id,
                state=JobState.PENDING,
                due_at=defer.until,
                attempts=Job.attempts - 1,
            )
            return "deferred"
        except GiveUp as exc:
            session.rollback()
            _finish(session, job_id, state=JobState.FAILED, last_error=f"given up: {exc}"[:2000])
            log.error("job %s %s given up: %s", kind, job_id, exc)
            return "failed"
        except Exception as exc:
            session.rollback()
            writer(session)  # read the job, then write its failure: a short writer's transaction
            job = session.get(Job, job_id, populate_existing=True)
            if job is None:
                return "skipped"
            error = f"{type(exc).__name__}: {exc}"[:2000]
            job.last_error, job.locked_until, job.updated_at = error, None, utcnow()
            if job.attempts >= job.max_attempts:
                job.state = JobState.FAILED
                log.error("job %s %s failed for good: %s", job.kind, job.key, error)
            else:
                job.state, job.due_at = JobState.PENDING, utcnow() + backoff(job.attempts)
                log.warning(
                    "job %s %s failed (attempt %d): %s", job.kind, job.key, job.attempts, error
                )
                log.debug("%s", traceback.format_exc())
            session.commit()
            return "retry" if job.state is JobState.PENDING else "failed"


def _finish(session: Session, job_id: int, **values: Any) -> None:
    """Release the job's lease with `values` (its new state and what goes with it), and commit."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(locked_until=None, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def due_jobs(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Ids of jobs that should run now: due pending ones, and running ones whose lease expired."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.due_at <= now,
                or_(
                    Job.state == JobState.PENDING,
                    (Job.state == JobState.RUNNING) & (Job.locked_until < now),
                ),
            )
            .order_by(Job.due_at)
            .limit(SWEEP_LIMIT)
        )
    )


Sweeper = Callable[[Session, dt.datetime], None]


def every_sweep(app: Flask, sweeper: Sweeper) -> None:
    """Run `sweeper(session, now)` on every sweep (deadlines kept in domain tables)."""
    app.extensions.setdefault("hotline.sweepers", []).append(sweeper)


def run_sweepers(app: Flask, now: dt.datetime | None = None) -> None:
    """Run every registered sweeper, each in its own transaction; one failing spares the rest."""
    database: Database = app.extensions["hotline.db"]
    for sweeper in app.extensions.get("hotline.sweepers", []):
        with app.app_context(), database.sessions() as session:
            try:
                sweeper(session, now or utcnow())
                session.commit()
            except Exception:
                session.rollback()
                log.exception("sweeper %s failed", getattr(sweeper, "__qualname__", sweeper))


def run_due(app: Flask, now: dt.datetime | None = None) -> dict[str, int]:
    """Run the sweepers, then every due job, in this process (the sweep without a queue)."""
    database, settings = app.extensions["hotline.db"], app.extensions["hotline.settings"]
    run_sweepers(app, now)
    with database.sessions() as session:
        ids = due_jobs(session, now)
    outcome: dict[str, int] = {}
    for job_id in ids:
        with app.app_context():
            result = run_job(database, settings, job_id, now)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def make_huey(settings: Settings, *, immediate: bool = False) -> Huey:
    """SqliteHuey next to the database by default, RedisHuey when REDIS_URL is set."""
    if settings.redis_url:
        return RedisHuey("hotline", url=settings.redis_url, immediate=immediate, results=False)
    path = settings.spool_dir.parent / "huey.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("hotline", filename=str(path), immediate=immediate, results=False)


def init_app(app: Flask) -> None:
    """Build the app's Huey and its two tasks: run one job, and sweep every minute."""
    settings: Settings = app.extensions["hotline.settings"]
    huey = make_huey(settings)
    database: Database = app.extensions["hotline.db"]

    def run_one(job_id: int) -> None:
        # Inside the app's context, like the sweepers: a handler may reach code that reads the
        # current app (its settings, its caches) whichever worker thread runs it.
        with app.app_context():
            result = run_job(database, settings, job_id)
        if result == "deferred":
            # Come back when it is due (the sweep would, within a minute, if this is lost).
            with database.sessions() as session:
                due_at = session.scalar(select(Job.due_at).where(Job.id == job_id))
            if due_at is not None:
                run_job_task.schedule(args=(job_id,), eta=due_at)

    run_job_task = huey.task(name="hotline.run_job")(run_one)

    def sweep() -> None:
        run_sweepers(app)
        with database.sessions() as session:
            ids = due_jobs(session)
        for job_id in ids:
            run_job_task(job_id)
        if ids:
            log.info("sweep: pushed %d due jobs", len(ids))

    huey.periodic_task(crontab(minute="*"), name="hotline.sweep")(sweep)

    app.extensions["hotline.huey"] = huey
    app.extensions["hotline.huey.run_job"] = run_job_task
    app.after_request(_push_after_response)


def push_later(job_id: int | None) -> None:
    """Hand a job just scheduled (and due) to the queue once this request's response is sent.

    Best effort and off the webhook's clock: if the queue is down, the sweep still finds it. A
    job that already existed (`schedule` returned None) is left to whoever scheduled it first.
    """
    if job_id is None or not has_request_context():
        return  # in a worker or the CLI: this sweep (or the next) runs it
    pending: list[int] = g.setdefault("jobs_to_push", [])
    pending.append(job_id)


def _push_after_response(response: Response) -> Response:
    pending: list[int] = g.pop("jobs_to_push", [])
    if pending:
        task = current_app.extensions["hotline.huey.run_job"]
        response.call_on_close(lambda: _enqueue(task, pending))
    return response


def _enqueue(task: Any, job_ids: list[int]) -> None:
    """Put committed jobs on the queue (a failure is logged: the sweep will run them)."""
    try:
        for job_id in job_ids:
            task(job_id)
    except Exception:
        log.warning("could not push jobs to the queue; the sweep will", exc_info=True)


def push(app: Flask, keys: list[tuple[str, str]]) -> None:
    """Enqueue the jobs with these (kind, key) now, if they are due (for the CLI)."""
    database: Database = app.extensions["hotline.db"]
    try:
        with database.sessions() as session:
            rows = [
                session.execute(
                    select(Job.id, Job.due_at).where(Job.kind == kind, Job.key == key)
                ).first()
                for kind, key in keys
            ]
    except Exception:
        log.warning("could not read the jobs to push; the sweep will run them", exc_info=True)
        return
    now = utcnow()
    due = [row.id for row in rows if row is not None and row.due_at <= now]
    _enqueue(app.extensions["hotline.huey.run_job"], due)
