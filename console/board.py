"""Calls as the center sees them: who called, which branch, how the IVR classified it, where
the call is now (its *stage*), who answered, how long — for the live board and the calls API.

A live call's stage says where the caller is: in the IVR, hearing officers' phones ring, talking
to someone, recording a request, hearing a case's progress. An ended call's says how it ended;
the two that must never look like every other call are *danger*: an emergency (or a caller
nothing understood) whose caller hung up before anyone accepted, and one that every tier left
unanswered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calls.models import Call, CallDirection, CallStatus
from desk.models import QueueEntry, QueueResult
from ivr.models import IvrSession
from routing.models import BridgeAttempt, CallbackKind, CallbackTask

#: A call not reported finished after this long lost its status callback: not "live".
LIVE_AT_MOST = dt.timedelta(hours=4)
LIVE_STATUSES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
#: The branches whose caller is put through to people (routing's bridge routes).
BRIDGED_BRANCHES = ("emergency", "doubt", "desk")
#: Stages of a live call.
IN_IVR, IN_QUEUE, RINGING_OFFICERS, TALKING, RECORDING, STATUS_LOOKUP = (
    "in_ivr",
    "in_queue",
    "ringing_officers",
    "talking",
    "recording",
    "status_lookup",
)
#: Stages of an ended call; the first two are danger.
ABANDONED_EMERGENCY, UNANSWERED_EMERGENCY, ABANDONED_DESK, ANSWERED, HUNG_UP_IN_IVR, ENDED = (
    "abandoned_emergency",
    "unanswered_emergency",
    "abandoned_desk",
    "answered",
    "hung_up_in_ivr",
    "ended",
)
#: How a wait in the desk's queue ended.
ABANDONED_QUEUE, QUEUE_CALLBACK = ("abandoned_queue", "queue_callback")
DANGER = frozenset({ABANDONED_EMERGENCY, UNANSWERED_EMERGENCY})


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
    #: Where the call is (live) or how it ended: one of the stage names above.
    stage: str = ENDED
    #: The bridge route it was put through to (an emergency category, `desk`, `doubt`).
    route: str | None = None

    @property
    def danger(self) -> bool:
        return self.stage in DANGER

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
    bridges: dict[str, list[BridgeAttempt]] = {}
    missed: dict[str, CallbackKind] = {}
    queued: dict[str, QueueResult] = {}
    if sids:
        for attempt in session.scalars(
            select(BridgeAttempt)
            .where(BridgeAttempt.call_sid.in_(sids))
            .order_by(BridgeAttempt.call_sid, BridgeAttempt.step)
        ):
            bridges.setdefault(attempt.call_sid, []).append(attempt)
        missed = dict(
            session.execute(
                select(CallbackTask.call_sid, CallbackTask.kind).where(
                    CallbackTask.call_sid.in_(sids)
                )
            ).all()
        )
        queued = {
            sid: QueueResult.BRIDGED if result is QueueResult.WAITING and taker else result
            for sid, result, taker in session.execute(
                select(QueueEntry.call_sid, QueueEntry.result, QueueEntry.answered_by).where(
                    QueueEntry.call_sid.in_(sids)
                )
            ).all()
        }
    result = []
    for call, ivr in rows:
        attempts = bridges.get(call.call_sid, [])
        bridge = next((a for a in attempts if a.accepted_at is not None), None)
        live = call.status in LIVE_STATUSES and now - call.created_at < LIVE_AT_MOST
        duration = call.duration_s
        if duration is None and live:
            duration = int((now - call.created_at).total_seconds())
        branch = ivr.branch if ivr else None
        result.append(
            CallRow(
                call_sid=call.call_sid,
                caller=call.from_number or call.from_raw or "anonymous",
                status=call.status.value,
                live=live,
                started_at=call.created_at,
                ended_at=call.ended_at,
                duration_s=duration,
                branch=branch,
                kind=ivr.kind.value if ivr and ivr.kind else None,
                category=ivr.category if ivr else None,
                answered_by=bridge.answered_by if bridge else None,
                answered_phone=bridge.answered_phone if bridge else None,
                stage=stage_of(
                    live, branch, attempts, missed.get(call.call_sid), queued.get(call.call_sid)
                ),
                route=attempts[0].route if attempts else None,
            )
        )
    return result


def stage_of(
    live: bool,
    branch: str | None,
    attempts: list[BridgeAttempt],
    missed: CallbackKind | None,
    queued: QueueResult | None = None,
) -> str:
    """Where a call is (`live`) or how it ended, from its IVR branch, its bridge attempts (in
    order), the call-back task it left and its wait in the desk's queue, if any."""
    accepted = [a for a in attempts if a.accepted_at is not None]
    if live:
        if branch is None:
            return IN_IVR
        if queued is QueueResult.WAITING:
            return IN_QUEUE
        if queued is QueueResult.BRIDGED:
            return TALKING
        if branch in BRIDGED_BRANCHES:
            if any(a.ended_at is None for a in accepted):
                return TALKING
            if missed is CallbackKind.UNANSWERED:
                return RECORDING  # every tier failed: the caller is leaving a message
            return RINGING_OFFICERS
        return STATUS_LOOKUP if branch == "status" else RECORDING
    if accepted or queued is QueueResult.BRIDGED:
        return ANSWERED
    if missed is CallbackKind.QUEUE_CALLBACK:
        return QUEUE_CALLBACK
    if missed is CallbackKind.ABANDONED_QUEUE:
        return ABANDONED_QUEUE
    if missed is CallbackKind.ABANDONED_BRIDGE:
        desk = bool(attempts) and attempts[0].route == "desk"
        return ABANDONED_DESK if desk else ABANDONED_EMERGENCY
    if missed is CallbackKind.UNANSWERED:
        return UNANSWERED_EMERGENCY
    if branch is None or missed is CallbackKind.ABANDONED_IVR:
        return HUNG_UP_IN_IVR
    return ENDED
