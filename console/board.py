"""Calls as the center sees them: who called, which branch, how the IVR classified it, who
answered, how long — for the live board and the calls API."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calls.models import Call, CallDirection, CallStatus
from ivr.models import IvrSession
from routing.models import BridgeAttempt

#: A call not reported finished after this long lost its status callback: not "live".
LIVE_AT_MOST = dt.timedelta(hours=4)
LIVE_STATUSES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


@dataclasses.dataclass(frozen=True)
class CallRow:
    call_sid: str
    caller: str
    status: str
    live: bool
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_s: int | None
    branch: str | None
    kind: str | None
    category: str | None
    answered_by: str | None
    answered_phone: str | None

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return data


def recent_calls(
    session: Session,
    now: dt.datetime,
    *,
    since: dt.datetime,
    limit: int = 200,
    offset: int = 0,
    call_sid: str | None = None,
) -> list[CallRow]:
    """Inbound calls to the hotline since `since`, newest first, with the IVR's and the bridge's
    view of each."""
    query = (
        select(Call, IvrSession)
        .outerjoin(IvrSession, IvrSession.call_sid == Call.call_sid)
        .where(Call.direction == CallDirection.INBOUND, Call.parent_call_sid.is_(None))
    )
    if call_sid is not None:
        query = query.where(Call.call_sid == call_sid)
    else:
        query = query.where(Call.created_at >= since)
    rows = session.execute(
        query.order_by(Call.created_at.desc(), Call.id.desc()).limit(limit).offset(offset)
    ).all()
    sids = [call.call_sid for call, _ in rows]
    answered: dict[str, BridgeAttempt] = {}
    if sids:
        for attempt in session.scalars(
            select(BridgeAttempt)
            .where(BridgeAttempt.call_sid.in_(sids), BridgeAttempt.accepted_at.is_not(None))
            .order_by(BridgeAttempt.accepted_at)
        ):
            answered.setdefault(attempt.call_sid, attempt)
    result = []
    for call, ivr in rows:
        bridge = answered.get(call.call_sid)
        live = call.status in LIVE_STATUSES and now - call.created_at < LIVE_AT_MOST
        end = call.ended_at
        duration = call.duration_s
        if duration is None and live:
            duration = int((now - call.created_at).total_seconds())
        result.append(
            CallRow(
                call_sid=call.call_sid,
                caller=call.from_number or call.from_raw or "anonymous",
                status=call.status.value,
                live=live,
                started_at=call.created_at,
                ended_at=end,
                duration_s=duration,
                branch=ivr.branch if ivr else None,
                kind=ivr.kind.value if ivr and ivr.kind else None,
                category=ivr.category if ivr else None,
                answered_by=bridge.answered_by if bridge else None,
                answered_phone=bridge.answered_phone if bridge else None,
            )
        )
    return result
