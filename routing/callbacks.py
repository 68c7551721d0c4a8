"""Callers to call back: the task raised when a caller hung up while the phones rang, or when
nobody took an emergency; the duty officers' list of them, most urgent first; claiming one and
recording each call-back.

A task is a durable record (`callback`, core.durable), written now or when the spool is
replayed; one per call, so a retry or a replay changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from core import durable
from core.db import insert_if_missing, utcnow
from core.durable import parse_time
from core.phone import mask
from routing import models as m
from routing.bridge import DESK

#: What an attempt is closed with when the caller hung up before any officer accepted.
ABANDONED = "abandoned"


#: What a duty officer records after dialling back. `no_answer` keeps the task open until
#: MAX_CALLBACK_ATTEMPTS calls went unanswered; the others close it.
CALLBACK_OUTCOMES = ("reached", "no_answer", "wrong_number", "not_needed")
#: The outcome of a later call's task, grouped on the number's open task (not chosen by staff).
GROUPED = "grouped"


MAX_CALLBACK_ATTEMPTS = 3


class CallbackError(ValueError):
    """A call-back task cannot be changed so; the message says why."""


def callback_priority(route: str | None) -> int:
    """0 for an abandoned emergency, 1 for a caller who wanted the desk."""
    return 1 if route == DESK else 0


def abandoned_bridge_records(
    *,
    call_sid: str,
    route: str,
    language: str,
    caller: str | None,
    at: str,
    detail: str,
) -> list[tuple[str, dict[str, Any]]]:
    """The alert and the call-back task for a caller who hung up while phones rang."""
    priority = callback_priority(route)
    who = mask(caller) if caller else "number withheld"
    return [
        (
            "alert",
            {
                "call_sid": call_sid,
                "priority": priority,
                "kind": ABANDONED,
                "message": f"{route}: the caller ({who}) hung up {detail}; call back",
                "at": at,
            },
        ),
        (
            "callback",
            {
                "call_sid": call_sid,
                "kind": m.CallbackKind.ABANDONED_BRIDGE.value,
                "priority": priority,
                "caller_number": caller,
                "route": route,
                "language": language[:8],
                "at": at,
            },
        ),
    ]


def unanswered_bridge_records(
    *, call_sid: str, route: str, language: str, caller: str | None, at: str, steps: int
) -> list[tuple[str, dict[str, Any]]]:
    """The alert and the call-back task when every dial step failed (the caller is asked for a
    message and promised a call-back, so the call-back must be someone's task)."""
    priority = callback_priority(route)
    return [
        (
            "alert",
            {
                "call_sid": call_sid,
                "priority": priority,
                "kind": "unanswered",
                "message": f"{route}: nobody took the call after {steps} dial steps",
                "at": at,
            },
        ),
        (
            "callback",
            {
                "call_sid": call_sid,
                "kind": m.CallbackKind.UNANSWERED.value,
                "priority": priority,
                "caller_number": caller,
                "route": route,
                "language": language[:8],
                "at": at,
            },
        ),
    ]


@durable.handler("callback")
def open_callback(session: Session, record: dict[str, Any]) -> None:
    """Create a call's call-back task (one per call: a retry or replay changes nothing).

    Repeated calls from one number are grouped, not multiplied: while the number has an open
    task, a later call's task is kept closed as `grouped` (one row per call, so a replay still
    changes nothing) and the open task counts it (`repeats`), taking its priority if it is more
    urgent."""
    closed = record.get("outcome") is not None
    values = _task_values(record)
    number = record.get("caller_number")
    if number and not closed:
        open_task = session.scalar(
            select(m.CallbackTask)
            .where(
                m.CallbackTask.caller_number == number,
                m.CallbackTask.closed_at.is_(None),
                m.CallbackTask.call_sid != record["call_sid"],
            )
            .order_by(m.CallbackTask.priority, m.CallbackTask.created_at)
            .limit(1)
            .with_for_update()
        )
        if open_task is not None:
            grouped = insert_if_missing(
                session,
                m.CallbackTask,
                {
                    **values,
                    "outcome": GROUPED,
                    "closed_at": values["created_at"],
                    "note": f"grouped with the open task {open_task.id}",
                },
                unique="call_sid",
                returning="id",
            )
            if grouped is not None:
                open_task.repeats += 1
                open_task.priority = min(open_task.priority, values["priority"])
            return
    insert_if_missing(session, m.CallbackTask, values, unique="call_sid")


def _task_values(record: dict[str, Any]) -> dict[str, Any]:
    closed = record.get("outcome") is not None
    return {
        "call_sid": record["call_sid"],
        "kind": m.CallbackKind(record["kind"]),
        "priority": record["priority"],
        "caller_number": record.get("caller_number"),
        "route": record.get("route"),
        "language": record.get("language") or "zh",
        "created_at": parse_time(record["at"]),
        "outcome": record.get("outcome"),
        "closed_at": parse_time(record["at"]) if closed else None,
        "note": "",
        "attempts": 0,
        "repeats": 0,
    }


_TASKS = cast(Table, m.CallbackTask.__table__)


#: A case was opened from the call: its IVR hang-up task (if the final status came first, as it
#: may for a caller who hung up while recording) is not needed.
_CLOSE_IVR_TASK = (
    update(_TASKS)
    .where(
        _TASKS.c.call_sid == bindparam("w_call_sid"),
        _TASKS.c.kind == m.CallbackKind.ABANDONED_IVR.value,
        _TASKS.c.closed_at.is_(None),
    )
    .values(
        closed_at=bindparam("w_now", type_=_TASKS.c.closed_at.type),
        outcome="not_needed",
        note="a case was opened from the call",
    )
)


def close_ivr_callback(session: Session, call_sid: str, now: dt.datetime) -> None:
    """The caller was served after all (a case came from their call): close their IVR task."""
    session.execute(_CLOSE_IVR_TASK, {"w_call_sid": call_sid, "w_now": now})


#: Open tasks, most urgent first, then oldest first.
_OPEN_TASKS = (
    select(m.CallbackTask)
    .where(m.CallbackTask.closed_at.is_(None))
    .order_by(m.CallbackTask.priority, m.CallbackTask.created_at, m.CallbackTask.id)
)


def open_callbacks(session: Session, limit: int = 200) -> list[m.CallbackTask]:
    """Open call-back tasks by priority, then age."""
    return list(session.scalars(_OPEN_TASKS.limit(limit)))


def closed_callbacks(session: Session, limit: int = 20) -> list[m.CallbackTask]:
    """The most recently closed call-back tasks."""
    return list(
        session.scalars(
            select(m.CallbackTask)
            .where(m.CallbackTask.closed_at.is_not(None))
            .order_by(m.CallbackTask.closed_at.desc(), m.CallbackTask.id.desc())
            .limit(limit)
        )
    )


def open_callback_count(session: Session, priority: int = 0) -> int:
    """How many open tasks there are at `priority` (0: abandoned emergencies)."""
    count = session.scalar(
        select(func.count())
        .select_from(m.CallbackTask)
        .where(m.CallbackTask.closed_at.is_(None), m.CallbackTask.priority == priority)
    )
    return int(count or 0)


def _open_task(session: Session, task_id: int) -> m.CallbackTask:
    task = session.scalar(
        select(m.CallbackTask)
        .where(m.CallbackTask.id == task_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if task is None:
        raise CallbackError(f"no call-back task {task_id}")
    if task.closed_at is not None:
        raise CallbackError(f"call-back task {task_id} is closed ({task.outcome})")
    return task


def claim_callback(
    session: Session, task_id: int, who: str, now: dt.datetime | None = None
) -> m.CallbackTask:
    """`who` takes the task (我来回拨); refused if someone else already has it."""
    task = _open_task(session, task_id)
    if task.claimed_by and task.claimed_by != who:
        raise CallbackError(f"call-back task {task_id} is already taken by {task.claimed_by}")
    if not task.claimed_by:
        task.claimed_by, task.claimed_at = who[:64], now or utcnow()
    session.flush()
    return task


def record_callback(
    session: Session,
    task_id: int,
    outcome: str,
    *,
    who: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> m.CallbackTask:
    """Record one call-back: it closes the task, except a no-answer before the last attempt."""
    if outcome not in CALLBACK_OUTCOMES:
        raise CallbackError(f"outcome: must be one of {', '.join(CALLBACK_OUTCOMES)}")
    now = now or utcnow()
    task = _open_task(session, task_id)
    task.attempts += 1
    if not task.claimed_by:
        task.claimed_by, task.claimed_at = who[:64], now
    said = f" — {note.strip()}" if note.strip() else ""
    line = f"{now.astimezone(dt.UTC):%Y-%m-%d %H:%M}Z {who}: {outcome}{said}"
    task.note = (f"{task.note}\n{line}" if task.note else line)[-500:]
    if outcome != "no_answer" or task.attempts >= MAX_CALLBACK_ATTEMPTS:
        task.outcome, task.closed_at = outcome, now
    session.flush()
    return task
