"""Reads of cases: by number or call, lists for the console and the API, the supervision sweep's
due cases, a case's timeline. Each lookup a webhook runs is built once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, bindparam, not_, select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent
from cases.workflow import OPEN_STATES_ORDERED, CaseError, CaseState
from core.db import utcnow


class CaseNotFound(CaseError):
    """No case has this number."""


#: Lookups of every intake and action, built once (building one costs more than running it).
_BY_NUMBER = select(Case).where(Case.number == bindparam("number"))
_BY_CALL_SID = select(Case).where(Case.call_sid == bindparam("call_sid"))


def get_case(session: Session, number: str) -> Case:
    """The case numbered `number`, or CaseNotFound."""
    case = session.scalar(_BY_NUMBER, {"number": number.strip()})
    if case is None:
        raise CaseNotFound(f"no case numbered {number!r}")
    return case


def case_by_call(session: Session, call_sid: str) -> Case | None:
    """The case a call made, if any."""
    return session.scalar(_BY_CALL_SID, {"call_sid": call_sid})


def timeline(session: Session, case: Case) -> list[CaseEvent]:
    """The case's events, oldest first."""
    return list(
        session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.at, CaseEvent.id)
        )
    )


def list_cases(
    session: Session,
    *,
    state: CaseState | str | None = None,
    unit: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> list[Case]:
    """Cases, newest first: in `state`, with `unit` and `category`, overdue (open and past due)
    or not; `limit` of them from `offset`."""
    query = select(Case)
    if state is not None:
        query = query.where(Case.state == CaseState(state))
    if unit is not None:
        query = query.where(Case.unit_code == unit)
    if category is not None:
        query = query.where(Case.category == category)
    if overdue is not None:
        late = and_(Case.state.in_(OPEN_STATES_ORDERED), Case.due_at <= (now or utcnow()))
        query = query.where(late if overdue else not_(late))
    query = query.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def due_for_reminder(session: Session, now: dt.datetime, *, limit: int = 500) -> list[Case]:
    """Open cases whose reminder time has come: not reminded, not escalated, not yet overdue.

    (An overdue case is escalated instead: see `due_for_escalation`.) Soonest due first.
    """
    return list(
        session.scalars(
            select(Case)
            .where(
                Case.state.in_(OPEN_STATES_ORDERED),
                Case.remind_at <= now,
                Case.due_at > now,
                Case.reminded_at.is_(None),
                Case.escalated_at.is_(None),
            )
            .order_by(Case.due_at, Case.id)
            .limit(limit)
        )
    )


def due_for_escalation(session: Session, now: dt.datetime, *, limit: int = 500) -> list[Case]:
    """Open cases past their deadline that were not escalated yet, most overdue first."""
    return list(
        session.scalars(
            select(Case)
            .where(
                Case.state.in_(OPEN_STATES_ORDERED),
                Case.due_at <= now,
                Case.escalated_at.is_(None),
            )
            .order_by(Case.due_at, Case.id)
            .limit(limit)
        )
    )
