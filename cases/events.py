"""The case's audit log: every change of a case leaves one `case_events` row saying who did what,
when, from which state to which (written by cases.service, read by cases.queries.timeline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from cases.models import Case, CaseEvent
from cases.workflow import CaseError, CaseState

#: The event action of intake, of a reminder sent and of a category corrected (besides the
#: workflow's actions).
RECEIVE = "receive"
REMIND = "remind"
RECATEGORIZE = "recategorize"
MAX_ACTOR = 64


def log_event(
    session: Session,
    case: Case,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    from_state: CaseState | None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Add the event of a change just made to `case` (its state is the state after)."""
    session.add(
        CaseEvent(
            case_id=case.id,
            at=at,
            actor=actor_name(actor),
            action=action,
            from_state=from_state,
            to_state=case.state,
            note=note,
            data=data or {},
        )
    )


def actor_name(actor: str) -> str:
    """Who did it, as stored: stripped, at most MAX_ACTOR characters; empty is refused."""
    actor = actor.strip()
    if not actor:
        raise CaseError("actor: say who did it (e.g. cli:<login>, unit:<code>, system)")
    return actor[:MAX_ACTOR]


def aware(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a naive datetime is a programming error."""
    if value.tzinfo is None:
        raise ValueError("naive datetime; use core.db.utcnow() or an aware datetime")
    return value.astimezone(dt.UTC)
