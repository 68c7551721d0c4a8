"""Reads and writes of cases and their audit log. Functions flush, never commit.

Every change of a case goes through `apply` (or `create_case`, `mark_reminded`,
`mark_escalated`) and leaves one `case_events` row saying who did what, when, from which state
to which. Writes that several processes may race on are single conditional statements: the
day's counter is one upsert, a duplicate intake of the same call is an INSERT … ON CONFLICT DO
NOTHING, reminders and escalations are UPDATE … WHERE not yet done, and `apply` locks the row
(SELECT … FOR UPDATE on PostgreSQL; on SQLite, where a transaction that has read cannot start
writing after another one committed, both take the database's write lock before reading).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import Session

from cases.deadlines import CaseKind, due_at, kind_for, remind_at
from cases.events import RECATEGORIZE, RECEIVE, REMIND, actor_name, aware, log_event
from cases.models import Case, CaseSource
from cases.numbers import allocate_number
from cases.queries import CaseNotFound, case_by_call, get_case
from cases.units import Units
from cases.workflow import (
    NOTE_REQUIRED,
    OPEN_STATES_ORDERED,
    Action,
    CaseError,
    CaseState,
    transition,
)
from core.categories import CATEGORIES
from core.db import insert_returning, take_write_lock, utcnow
from routing import callbacks

MAX_CALLER_RAW = 64


#: A case's row, locked for the transaction and read afresh (built once, like every lookup).
_LOCKED = (
    select(Case)
    .where(Case.number == bindparam("number"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


class UnknownUnit(CaseError):
    """A unit code that is not in the units file."""


class NoteRequired(CaseError):
    """The action needs a note: the unit's feedback, or the reason for reopening."""


@dataclasses.dataclass(frozen=True)
class Where:
    """Where a request is about, as a city app reports it (all optional)."""

    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    media_url: str | None = None


@dataclasses.dataclass(frozen=True)
class Contact:
    """Who filed a request through a city app and how to reach them besides the phone (all
    optional; staff see it, Open311 never publishes it)."""

    contact_first_name: str | None = None
    contact_last_name: str | None = None
    contact_email: str | None = None


def create_case(
    session: Session,
    *,
    call_sid: str | None,
    category: str,
    language: str,
    caller_number: str | None,
    caller_raw: str,
    transcript: str,
    recording_sid: str | None = None,
    kind: CaseKind | str | None = None,
    source: CaseSource | str = CaseSource.PHONE,
    tz: dt.tzinfo,
    holidays: Mapping[dt.date, str],
    confidential: bool = False,
    actor: str | None = None,
    where: Where | None = None,
    contact: Contact | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Open a case (state `received`, with its `receive` event), numbered by the local day.

    `where` is the place a request filed through Open311 or the API gives (address, point,
    photo); a phoned-in request says it in the transcript. `contact` is the filer's name and
    e-mail address, when the app gives them.

    Idempotent on `call_sid`: for a call that already has a case, that case is returned and
    nothing is written — also when two processes race (the loser's number is left unused).
    `kind` defaults to `kind_for(category)`; the deadline follows from it (`cases.deadlines`).
    """
    if not category or len(category) > 32:
        raise CaseError(f"category: expected a classifier category id, got {category!r}")
    source = CaseSource(source)
    actor = actor_name(actor or source.value)
    take_write_lock(session)
    if call_sid is not None:
        existing = case_by_call(session, call_sid)
        if existing is not None:
            return existing
    now = aware(now or utcnow())
    case_kind = CaseKind(kind) if kind is not None else kind_for(category)
    due = due_at(case_kind, now, tz, holidays)
    number = allocate_number(session, now.astimezone(tz).date())
    values: dict[str, Any] = {
        "number": number,
        "call_sid": call_sid,
        "kind": case_kind,
        "category": category,
        "language": language,
        "caller_number": caller_number,
        "caller_raw": caller_raw[:MAX_CALLER_RAW],
        "confidential": confidential,
        "transcript": transcript,
        "recording_sid": recording_sid,
        "state": CaseState.RECEIVED,
        "unit_code": None,
        "created_at": now,
        "updated_at": now,
        "due_at": due,
        "remind_at": remind_at(due, now),
        "reopen_count": 0,
        "source": source,
        **dataclasses.asdict(where or Where()),
        **dataclasses.asdict(contact or Contact()),
    }
    if call_sid is None:
        case = Case(**values)
        session.add(case)
        session.flush()
    else:
        created = insert_returning(session, Case, values, unique="call_sid")
        if created is None:  # a concurrent intake of the same call won
            found = case_by_call(session, call_sid)
            if found is None:  # pragma: no cover - the row exists after the insert
                raise CaseError(f"case for call {call_sid} vanished")
            return found
        case = created
        _inserted_here(session, case)
        callbacks.close_ivr_callback(session, call_sid, now)
    log_event(
        session,
        case,
        at=now,
        actor=actor,
        action=RECEIVE,
        from_state=None,
        data={"kind": case_kind.value, "category": category, "due_at": due.isoformat()},
    )
    session.flush()
    return case


def apply(
    session: Session,
    case_number: str,
    action: Action | str,
    *,
    actor: str,
    note: str = "",
    unit_code: str | None = None,
    units: Units | None = None,
    tz: dt.tzinfo | None = None,
    holidays: Mapping[dt.date, str] | None = None,
    data: Mapping[str, Any] | None = None,
    case: Case | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Do `action` to a case: the transition, its fields and its audit event (`data`, if
    given, is kept with the event beside what the action records itself).

    The case is locked and read afresh, unless `case` is the one this transaction just created
    (`create_case`): no other transaction can see that row yet, so it is not read again.

    - dispatch needs `unit_code`, a unit of `units` (re-dispatching to another unit is allowed,
      to the unit it is already with is refused);
    - resolve needs `note`, the unit's feedback, kept in `feedback`;
    - reopen (重办) needs `note`, the reason; it counts in `reopen_count` and starts the time
      limit again from now, which needs `tz` and `holidays`;
    - escalate (督办) leaves the state and records when the case was first escalated.

    Raises CaseNotFound, IllegalTransition, NoteRequired, UnknownUnit (all CaseError).
    """
    try:
        action = Action(action)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise CaseError(f"unknown action {action!r} (known: {known})") from None
    note = note.strip()
    if "\x00" in note:
        raise CaseError("note: NUL characters are not allowed")
    actor = actor_name(actor)
    case = _locked(session, case_number, case)
    target = transition(case.state, action)
    if action in NOTE_REQUIRED and not note:
        what = "the unit's feedback" if action is Action.RESOLVE else "the caller's reason"
        raise NoteRequired(f"{action.value} {case.number}: a note is required ({what})")
    if unit_code is not None and action is not Action.DISPATCH:
        raise CaseError(f"{action.value} takes no unit (only dispatch does)")
    now = aware(now or utcnow())
    recorded: dict[str, Any] = dict(data or {})
    if action is Action.DISPATCH:
        unit = _known_unit(unit_code, units)
        if case.state is CaseState.DISPATCHED and case.unit_code == unit:
            raise CaseError(f"case {case.number} is already dispatched to {unit}")
        recorded.update(unit=unit, previous_unit=case.unit_code)
        case.unit_code = unit
    elif action is Action.RESOLVE:
        case.feedback = note
        case.resolved_at = now
    elif action is Action.CLOSE:
        case.closed_at = now
    elif action is Action.REOPEN:
        if tz is None or holidays is None:
            raise TypeError("reopen recomputes the deadline: pass tz and holidays")
        due = due_at(case.kind, now, tz, holidays)
        recorded.update(due_at=due.isoformat(), previous_due_at=case.due_at.isoformat())
        case.reopen_count += 1
        case.due_at, case.remind_at = due, remind_at(due, now)
        case.reminded_at = case.escalated_at = None
        case.resolved_at = case.closed_at = None
    elif action is Action.ESCALATE:
        recorded.update(_overdue_data(case, now))
        if case.escalated_at is None:
            case.escalated_at = now
    from_state = case.state
    case.state = target
    case.updated_at = now
    log_event(
        session,
        case,
        at=now,
        actor=actor,
        action=action.value,
        from_state=from_state,
        note=note,
        data=recorded,
    )
    session.flush()
    return case


def mark_reminded(
    session: Session, case: Case | str, *, actor: str = "system", now: dt.datetime | None = None
) -> bool:
    """Record that the unit was reminded (a `remind` event); False if it already was.

    One conditional UPDATE: of two workers reminding the same case, one wins.
    """
    actor = actor_name(actor)
    case = case if isinstance(case, Case) else get_case(session, case)
    now = aware(now or utcnow())
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.reminded_at.is_(None))
        .values(reminded_at=now, updated_at=now)
    )
    if not getattr(result, "rowcount", 0):
        return False
    log_event(
        session,
        case,
        at=now,
        actor=actor,
        action=REMIND,
        from_state=case.state,
        data={"unit": case.unit_code, "due_at": case.due_at.isoformat()},
    )
    session.flush()
    return True


def mark_escalated(
    session: Session,
    case: Case | str,
    *,
    actor: str = "system",
    note: str = "",
    now: dt.datetime | None = None,
) -> bool:
    """Escalate an open case (an `escalate` event, state unchanged); False if it already was.

    One conditional UPDATE: of two workers escalating the same case, one wins.
    """
    actor = actor_name(actor)
    case = case if isinstance(case, Case) else get_case(session, case)
    now = aware(now or utcnow())
    result = session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            Case.escalated_at.is_(None),
            Case.state.in_(OPEN_STATES_ORDERED),
        )
        .values(escalated_at=now, updated_at=now)
    )
    if not getattr(result, "rowcount", 0):
        return False
    log_event(
        session,
        case,
        at=now,
        actor=actor,
        action=Action.ESCALATE.value,
        from_state=case.state,
        note=note.strip(),
        data=_overdue_data(case, now),
    )
    session.flush()
    return True


def recategorize(
    session: Session,
    case_number: str,
    category: str,
    *,
    actor: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """A dispatcher corrects the classifier's category (audited; state and deadline unchanged)."""
    if category not in CATEGORIES:
        raise CaseError(f"category: unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    case = get_case(session, case_number)
    if case.category == category:
        raise CaseError(f"case {case.number} is already in category {category}")
    now = aware(now or utcnow())
    before = case.category
    case.category, case.updated_at = category, now
    log_event(
        session,
        case,
        at=now,
        actor=actor,
        action=RECATEGORIZE,
        from_state=case.state,
        note=note.strip(),
        data={"from": before, "to": category},
    )
    session.flush()
    return case


# ------------------------------------------------------------------------------------ helpers


def _inserted_here(session: Session, case: Case) -> None:
    """Note that `case` was inserted by the session's current transaction."""
    inspect(case).info["inserted_in"] = session.get_transaction()


def _locked(session: Session, number: str, known: Case | None = None) -> Case:
    """The case, its row locked for this transaction and freshly read — or `known`, when it
    is that case and this very transaction inserted it (its row is this transaction's alone)."""
    if (
        known is not None
        and known.number == number.strip()
        and inspect(known).info.get("inserted_in") is session.get_transaction()
    ):
        return known
    take_write_lock(session)
    case = session.scalar(_LOCKED, {"number": number.strip()})
    if case is None:
        raise CaseNotFound(f"no case numbered {number!r}")
    return case


def _known_unit(code: str | None, units: Units | None) -> str:
    if not code or not code.strip():
        raise UnknownUnit("dispatch needs a unit (its code in config/units.yaml)")
    code = code.strip()
    if units is None:
        raise UnknownUnit(f"cannot check unit {code!r}: no units given")
    if code not in units:
        known = ", ".join(u.code for u in units)
        raise UnknownUnit(f"unknown unit {code!r} (units: {known})")
    return code


def _overdue_data(case: Case, now: dt.datetime) -> dict[str, Any]:
    overdue_s = int((now - case.due_at).total_seconds())
    return {"unit": case.unit_code, "due_at": case.due_at.isoformat(), "overdue_s": overdue_s}


__all__ = [
    "CaseError",
    "NoteRequired",
    "UnknownUnit",
    "apply",
    "create_case",
    "mark_escalated",
    "mark_reminded",
    "recategorize",
]
