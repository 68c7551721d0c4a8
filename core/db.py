"""Database plumbing: declarative base, column types, engine and per-request sessions."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import time
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    Integer,
    MetaData,
    Table,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

#: What a database that is down, unreachable or too slow raises.
UNREACHABLE = (OperationalError, InterfaceError, PoolTimeoutError, DisconnectionError)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL alike.

    PostgreSQL stores `timestamptz`; SQLite has no timezone, so values are stored as naive UTC
    and made aware again when read. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use core.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def str_enum(enum_cls: type[enum.Enum], *, length: int = 32) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, storing the members' values."""
    return Enum(
        enum_cls,
        name=enum_cls.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


#: An auto-incrementing 64-bit key on PostgreSQL that is still SQLite's ROWID alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: JSON, stored as JSONB on PostgreSQL.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for a DATABASE_URL, choosing psycopg 3 for plain postgresql://."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str, *, timeout_s: int = 5, bound_statements: bool = True, **kwargs: Any
) -> Engine:
    """An engine with the settings this service relies on (SQLite: WAL, FKs, busy timeout).

    On PostgreSQL, connecting and (unless `bound_statements` is False, as for migrations) every
    statement are bounded by `timeout_s`, so a webhook never waits long on a slow database.
    """
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": timeout_s}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; let SQLAlchemy
        # emit BEGIN itself (the documented recipe), so nested transactions really nest.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    # No pre-ping: it costs a round trip on every checkout (twice per webhook; 14% of a worker's
    # time under `hotline bench`). A connection that died is found on its first use instead:
    # the error is UNREACHABLE, the view takes its path without the database, SQLAlchemy drops
    # the pool's dead connections, and the next request connects afresh.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    if kwargs.get("poolclass") is None:
        kwargs.setdefault("pool_timeout", timeout_s)
    connect_args: dict[str, Any] = {"connect_timeout": timeout_s}
    if bound_statements:
        existing = parsed.query.get("options", "")
        existing = " ".join(existing) if isinstance(existing, tuple) else existing
        parsed = parsed.difference_update_query(["options"])
        connect_args["options"] = f"{existing} -c statement_timeout={timeout_s * 1000}".strip()
    kwargs.setdefault("connect_args", connect_args)
    return create_engine(parsed, **kwargs)


#: Requests that only read: their sessions never take SQLite's write lock up front.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A write that changes nothing: on SQLite it takes the database's write lock at once.
_TAKE_WRITE_LOCK = "UPDATE alembic_version SET version_num = version_num WHERE 0"


@event.listens_for(Session, "after_begin")
def _writer_from_the_start(session: Session, _transaction: Any, connection: Any) -> None:
    """The session of a request that writes takes SQLite's write lock as its transaction begins.

    A deferred SQLite transaction that has read cannot start writing once another connection
    committed: SQLite answers "database is locked" at once, without waiting, and the request
    fails. A transaction that takes the write lock first waits its turn instead (the busy
    timeout) while another writer holds it, so concurrent writers queue. Only the request's own
    session does this: other connections a request opens (the roster cache) only read, and
    must not wait behind it; the job worker's sweeps, which mostly only look for work, stay
    deferred too (where they read and then write, they take the lock themselves or write in one
    conditional statement). PostgreSQL needs none of it: rows lock themselves.
    """
    if session.info.get("writes"):
        _take_write_lock(connection)


def take_write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, before this transaction reads (for a
    read-then-write outside a writing request: a job, a command). PostgreSQL needs none of
    this: rows are locked by the statements themselves (upsert, ON CONFLICT, FOR UPDATE)."""
    _take_write_lock(session.connection())


def _take_write_lock(connection: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_TAKE_WRITE_LOCK)


def writer(session: Session) -> Session:
    """Mark `session` as one whose transactions read and then write: on SQLite each begins by
    taking the write lock (waiting its turn) rather than failing when it comes to write. For
    short transactions only: the lock is held until it ends."""
    session.info["writes"] = True
    return session


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def insert_if_missing(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    *,
    unique: str | tuple[str, ...],
    returning: str | None = None,
) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on `unique`: safe when duplicates race across processes.

    With `returning`, that column of the new row is returned (None when the row existed).
    """
    columns = (unique,) if isinstance(unique, str) else tuple(unique)
    statement = _insert_ignoring(session.get_bind().dialect.name, model, columns, returning)
    result = session.execute(statement, values)
    return result.scalar_one_or_none() if returning else None


M = TypeVar("M", bound="Base")


def insert_returning(
    session: Session, model: type[M], values: dict[str, Any], *, unique: str
) -> M | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the new row, as an entity of this session.

    One round trip for a new row; None when a row with the same `unique` value exists already
    (a retry, or a process that raced and won), which the caller then reads. The statement is
    built once and the values passed at execution (the ORM's bulk INSERT with RETURNING).
    """
    statement = _insert_returning(session.get_bind().dialect.name, model, unique)
    row: M | None = session.scalars(statement, [values]).one_or_none()
    return row


@functools.cache
def _insert_returning(dialect: str, model: type[Base], unique: str) -> Any:
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    return insert(model).on_conflict_do_nothing(index_elements=[unique]).returning(model)


@functools.cache
def _insert_ignoring(
    dialect: str, model: type[Base], columns: tuple[str, ...], returning: str | None
) -> Any:
    """The statement, built once: Core on the table (the ORM's bulk path costs more than the
    round trip), its values given at execution (building `.values(…)` per call coerces every
    value anew: a third of a status webhook's time in SQLAlchemy)."""
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    table = cast(Table, model.__table__)
    statement = insert(table).on_conflict_do_nothing(index_elements=list(columns))
    return statement.returning(table.c[returning]) if returning else statement


class Database:
    """The engine and session factory one app uses; tests may rebind `sessions`."""

    #: After the database failed, how long webhooks skip it and take the path without it.
    BREAKER_SECONDS = 10.0

    def __init__(self, url: str, *, timeout_s: int = 5, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, timeout_s=timeout_s, **engine_kwargs)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self._down_until = 0.0

    def available(self) -> bool:
        """False for a while after the database failed (a circuit breaker)."""
        return time.monotonic() >= self._down_until

    def mark_down(self, exc: BaseException) -> None:
        """Remember that the database failed, so the next webhooks don't wait on it."""
        if self.available():
            log.error("database unreachable (%s): working without it", type(exc).__name__)
        self._down_until = time.monotonic() + self.BREAKER_SECONDS

    def mark_up(self) -> None:
        self._down_until = 0.0

    def init_app(self, app: Flask) -> None:
        app.extensions["hotline.db"] = self
        app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    """The Database of `app` (default: the current app)."""
    db: Database = (app or current_app).extensions["hotline.db"]
    return db


def session() -> Session:
    """The session of the current request or app context, created on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
        if has_request_context() and request.method not in _READ_METHODS:
            writer(g.db_session)
    s: Session = g.db_session
    return s


def _close_session(_exc: BaseException | None) -> None:
    s: Session | None = g.pop("db_session", None)
    if s is not None:
        s.close()
