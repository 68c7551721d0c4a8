"""Tables: `calls` (one per Twilio CallSid) and `call_events` (append-only webhook log)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from core.db import Base, BigIntPK, JSONDoc, UTCDateTime, str_enum, utcnow


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND_API = "outbound-api"
    OUTBOUND_DIAL = "outbound-dial"


class CallStatus(enum.StrEnum):
    QUEUED = "queued"
    #: An outbound call Twilio has started to place (its status callback can say so).
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        """Position in a call's life; a call never moves to a lower rank."""
        return _STATUS_RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank == FINAL_RANK


FINAL_RANK = 4
_STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: FINAL_RANK,
    CallStatus.BUSY: FINAL_RANK,
    CallStatus.FAILED: FINAL_RANK,
    CallStatus.NO_ANSWER: FINAL_RANK,
    CallStatus.CANCELED: FINAL_RANK,
}


class Call(Base):
    """One phone call leg, keyed by Twilio's CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    parent_call_sid: Mapped[str | None] = mapped_column(String(34))
    account_sid: Mapped[str] = mapped_column(String(34))
    direction: Mapped[CallDirection] = mapped_column(str_enum(CallDirection, length=16))
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, length=16))
    #: E.164, or None when the caller withheld their number or it was unusable.
    from_number: Mapped[str | None] = mapped_column(String(16))
    #: Exactly what Twilio sent in From.
    from_raw: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(16))
    to_raw: Mapped[str] = mapped_column(String(64))
    #: BCP-47 language the caller is served in (set by the IVR).
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[int | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("duration_s IS NULL OR duration_s >= 0", name="duration_not_negative"),
        # The live board and the figures read calls by time.
        Index("ix_calls_created_at", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Call {self.call_sid} {self.direction} {self.status}>"


class CallEvent(Base):
    """One webhook as received: route, every parameter, time. Never updated or deleted."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    route: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    #: Twilio's I-Twilio-Idempotency-Token: equal on a retry of the same webhook.
    idempotency_token: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_call_events_call_sid_received_at", "call_sid", "received_at"),)


class AppendOnlyError(RuntimeError):
    """Something tried to change or delete a logged webhook."""


@event.listens_for(CallEvent, "before_update")
@event.listens_for(CallEvent, "before_delete")
def _refuse_change(_mapper: Mapper[Any], _conn: Any, target: CallEvent) -> None:
    raise AppendOnlyError(f"call_events is append-only (event {target.id})")
