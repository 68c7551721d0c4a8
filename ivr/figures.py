"""Figures that begin in the IVR: how long a caller waited, from the hand-over to a person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.models import IvrSession
from routing.models import BridgeAttempt


def answer_times(
    session: Session, since: dt.datetime, until: dt.datetime | None = None
) -> list[tuple[str, str, float]]:
    """Per call answered in [since, until): (call_sid, route, seconds from key press to acceptance).

    The key press is when the IVR handed the call over; acceptance is the officer's key press
    on the screening whisper — the moment the caller reaches a person. Only calls an officer
    accepted are here: an abandoned call never counts as answered (see
    routing.store.bridge_outcomes).
    """
    period = [BridgeAttempt.started_at >= since]
    if until is not None:
        period.append(BridgeAttempt.started_at < until)
    first_accept = (
        select(
            BridgeAttempt.call_sid,
            func.min(BridgeAttempt.route).label("route"),
            func.min(BridgeAttempt.accepted_at).label("accepted_at"),
        )
        .where(BridgeAttempt.accepted_at.is_not(None), *period)
        .group_by(BridgeAttempt.call_sid)
        .subquery()
    )
    rows = session.execute(
        select(
            first_accept.c.call_sid,
            first_accept.c.route,
            first_accept.c.accepted_at,
            IvrSession.handed_over_at,
        )
        .join(IvrSession, IvrSession.call_sid == first_accept.c.call_sid)
        .where(IvrSession.handed_over_at.is_not(None))
    ).all()
    result = [
        (call_sid, route, (accepted_at - handed_over_at).total_seconds())
        for call_sid, route, accepted_at, handed_over_at in rows
    ]
    return sorted(result, key=lambda row: row[2])
