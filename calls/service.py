"""Reads and writes of calls and their webhook log. Functions flush, never commit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Result,
    Select,
    Table,
    bindparam,
    false,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from calls.models import Call, CallDirection, CallEvent, CallStatus
from core.db import utcnow
from core.inputs import BadInput, whole_number
from core.phone import caller_e164
from core.webhooks import ACCOUNT_SID_RE, CALL_SID_RE, BadWebhook

MAX_RAW_NUMBER = 64
MAX_DURATION_S = 7 * 24 * 3600


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallReport:
    """What a voice webhook says about its call, validated."""

    call_sid: str
    account_sid: str
    status: CallStatus
    direction: CallDirection
    from_raw: str
    to_raw: str
    parent_call_sid: str | None = None
    duration_s: int | None = None

    @classmethod
    def from_params(cls, params: MultiDict[str, str], *, account_sid: str) -> CallReport:
        """Validate Twilio's standard call parameters, raising BadWebhook with a reason."""
        call_sid = _required(params, "CallSid")
        if not CALL_SID_RE.match(call_sid):
            raise BadWebhook("CallSid: expected 'CA' followed by 32 lowercase hex digits")
        parent = params.get("ParentCallSid") or None
        if parent is not None and not CALL_SID_RE.match(parent):
            raise BadWebhook("ParentCallSid: expected 'CA' followed by 32 lowercase hex digits")
        account = _required(params, "AccountSid")
        if not ACCOUNT_SID_RE.match(account):
            raise BadWebhook("AccountSid: expected 'AC' followed by 32 lowercase hex digits")
        if account.lower() != account_sid.lower():
            raise BadWebhook("AccountSid: not this hotline's Twilio account")
        status = _enum(CallStatus, "CallStatus", _required(params, "CallStatus"))
        direction = _enum(CallDirection, "Direction", params.get("Direction") or "inbound")
        from_raw = params.get("From", "")
        to_raw = params.get("To", "")
        for name, value in (("From", from_raw), ("To", to_raw)):
            if len(value) > MAX_RAW_NUMBER:
                raise BadWebhook(f"{name}: longer than {MAX_RAW_NUMBER} characters")
        duration_s = _duration(params.get("CallDuration") or None)
        return cls(
            call_sid=call_sid,
            account_sid=account,
            status=status,
            direction=direction,
            from_raw=from_raw,
            to_raw=to_raw,
            parent_call_sid=parent,
            duration_s=duration_s,
        )


def _duration(raw: str | None) -> int | None:
    """Twilio's CallDuration: absent (None), or whole seconds up to MAX_DURATION_S written with
    ASCII digits (core.inputs.whole_number); anything else raises BadWebhook."""
    if raw is None:
        return None
    try:
        return whole_number(raw, "CallDuration", 0, MAX_DURATION_S)
    except BadInput:
        raise BadWebhook("CallDuration: expected a whole number of seconds") from None


def _required(params: MultiDict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise BadWebhook(f"{name}: missing")
    return value


E = TypeVar("E", CallStatus, CallDirection)


def _enum(cls: type[E], name: str, value: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise BadWebhook(f"{name}: {value[:40]!r} is not one of {allowed}") from None


def record_webhook(
    session: Session,
    report: CallReport,
    *,
    region: str,
    route: str,
    params: MultiDict[str, str],
    idempotency_token: str | None,
    language: str | None = None,
    read: Select[Any] | None = None,
    now: dt.datetime | None = None,
) -> Result[Any] | None:
    """Record a voice webhook: upsert its call and append it to the call's log (idempotent).

    The upsert is INSERT … ON CONFLICT DO UPDATE … WHERE the stored status is earlier: a
    duplicate or late webhook changes nothing, and two processes racing on the same call cannot
    move it backwards (the same rule as `advance_status`). `language` is stored on a new row.

    On PostgreSQL both are one statement and one round trip: the upsert as a data-modifying
    WITH (always run to completion) in front of the log's INSERT. SQLite, in-process, runs the
    same two statements one after the other.

    `read` is the route's own state, a SELECT built once whose parameters are named after the
    call row's columns (`call_sid`, `from_number`, …); its result is returned. On PostgreSQL it
    rides in the same round trip: the upsert and the log's INSERT become WITHs in front of it.
    It must not read the call or its log: there it sees the database as it was before them.
    """
    now = now or utcnow()
    values = _call_values(report, region=region, language=language, now=now)
    values.update(_event_values(report.call_sid, route, params, idempotency_token, now))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        if read is not None:
            return session.execute(_with_webhook(read, report.status), values)
        session.execute(_call_upsert_and_event(report.status), values)
        return None
    session.execute(_call_upsert(dialect, report.status), values)
    session.execute(_EVENT_INSERT, values)
    return session.execute(read, values) if read is not None else None


def _call_values(
    report: CallReport, *, region: str, language: str | None, now: dt.datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "call_sid": report.call_sid,
        "parent_call_sid": report.parent_call_sid,
        "account_sid": report.account_sid,
        "direction": report.direction,
        "status": report.status,
        "from_number": caller_e164(report.from_raw, region),
        "from_raw": report.from_raw,
        "to_number": caller_e164(report.to_raw, region),
        "to_raw": report.to_raw,
        "language": language,
        "created_at": now,
        "updated_at": now,
        "ended_at": now if report.status.is_final else None,
        "duration_s": report.duration_s if report.status.is_final else None,
    }
    return values


#: The call row's columns an upsert writes (each bound as a parameter of the same name).
_CALL_COLUMNS = (
    "call_sid",
    "parent_call_sid",
    "account_sid",
    "direction",
    "status",
    "from_number",
    "from_raw",
    "to_number",
    "to_raw",
    "language",
    "created_at",
    "updated_at",
    "ended_at",
    "duration_s",
)


@functools.cache
def _call_upsert(dialect: str, status: CallStatus) -> Any:
    """INSERT the call, or move it forward to `status` if it is at an earlier one (built once)."""
    table = cast(Table, Call.__table__)
    upsert = (sqlite_insert if dialect == "sqlite" else pg_insert)(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in _CALL_COLUMNS}
    )
    changes: dict[str, Any] = {
        "status": upsert.excluded.status,
        "updated_at": upsert.excluded.updated_at,
    }
    if status.is_final:
        changes["ended_at"] = upsert.excluded.ended_at
        changes["duration_s"] = upsert.excluded.duration_s
    # The earlier statuses are constants, written into the SQL: an IN (…) of bound values would
    # be expanded anew at every execution.
    earlier: list[Any] = [
        literal_column(f"'{s.value}'") for s in CallStatus if s.rank < status.rank
    ]
    return upsert.on_conflict_do_update(
        index_elements=["call_sid"],
        set_=changes,
        where=table.c.status.in_(earlier) if earlier else false(),
    )


@functools.cache
def _call_upsert_and_event(status: CallStatus) -> Any:
    """PostgreSQL: WITH (the call's upsert) INSERT the webhook into the log (built once)."""
    return _EVENT_INSERT.add_cte(_call_upsert("postgresql", status).cte("call_row"))


@functools.cache
def _with_webhook(read: Select[Any], status: CallStatus) -> Select[Any]:
    """PostgreSQL: WITH (the call's upsert), (the log's INSERT) `read` (built once per read)."""
    return read.add_cte(
        _call_upsert("postgresql", status).cte("call_row"), _EVENT_INSERT.cte("event_row")
    )


def advance_status(
    session: Session,
    call_sid: str,
    status: CallStatus,
    *,
    duration_s: int | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Move a call forward to `status`; a duplicate or late callback changes nothing.

    One conditional UPDATE, so two processes handling callbacks for the same call at once
    cannot move it backwards either. Returns whether the call moved.
    """
    now = now or utcnow()
    earlier = [s for s in CallStatus if s.rank < status.rank]
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status.is_final:
        values["ended_at"] = now
        values["duration_s"] = duration_s
    result = session.execute(
        update(Call)
        .where(Call.call_sid == call_sid, Call.status.in_(earlier))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


_EVENT_TABLE = cast(Table, CallEvent.__table__)
#: The log's INSERT; its parameters are named event_* so that it can share a statement (and a
#: parameter set) with the call's upsert.
_EVENT_INSERT = insert(_EVENT_TABLE).values(
    {
        name: bindparam(f"event_{name}", type_=_EVENT_TABLE.c[name].type)
        for name in ("call_sid", "route", "params", "idempotency_token", "received_at")
    }
)


def _event_values(
    call_sid: str,
    route: str,
    params: MultiDict[str, str],
    idempotency_token: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "event_call_sid": call_sid[:34],
        "event_route": route[:64],
        "event_params": params_document(params),
        "event_idempotency_token": idempotency_token,
        "event_received_at": now,
    }


def log_event(
    session: Session,
    *,
    call_sid: str,
    route: str,
    params: MultiDict[str, str],
    idempotency_token: str | None,
    now: dt.datetime | None = None,
) -> None:
    """Append a received webhook, with every parameter, to the call's log (one INSERT)."""
    session.execute(
        _EVENT_INSERT, _event_values(call_sid, route, params, idempotency_token, now or utcnow())
    )


def params_document(params: MultiDict[str, str]) -> dict[str, Any]:
    """All parameters as JSON: a string per name, or a list where a name was repeated."""
    return {
        name: values[0] if len(values) == 1 else values
        for name, values in params.to_dict(flat=False).items()
    }


def get_call(session: Session, call_sid: str) -> Call | None:
    """The call with this CallSid, fresh from the database."""
    return session.scalars(
        select(Call).where(Call.call_sid == call_sid).execution_options(populate_existing=True)
    ).one_or_none()


def events_for(session: Session, call_sid: str) -> list[CallEvent]:
    """A call's webhook log in the order received."""
    return list(
        session.scalars(
            select(CallEvent)
            .where(CallEvent.call_sid == call_sid)
            .order_by(CallEvent.received_at, CallEvent.id)
        )
    )
