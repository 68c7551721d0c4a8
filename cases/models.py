"""Tables: `cases`, their append-only audit log `case_events`, and `case_counters` for numbers."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from calls.models import AppendOnlyError
from cases.deadlines import CaseKind
from cases.workflow import CaseState
from core.db import Base, BigIntPK, JSONDoc, UTCDateTime, str_enum, utcnow


def _state_enum(name: str) -> Enum:
    """Like core.db.str_enum(CaseState), with a CHECK named after the column: two in one table."""
    return Enum(
        CaseState,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class CaseSource(enum.StrEnum):
    PHONE = "phone"
    API = "api"
    OPEN311 = "open311"


class Case(Base):
    """One service request, from intake (受理) to closure (办结)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: "MS-YYYYMMDD-NNNN", the hotline's local date of intake; NNNN grows past 9999 if needed.
    number: Mapped[str] = mapped_column(String(24), unique=True)
    #: The call it came from; unique, so one call never makes two cases. None for API cases.
    call_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    kind: Mapped[CaseKind] = mapped_column(str_enum(CaseKind, length=16))
    #: The classifier's category id (config/classifier.yaml).
    category: Mapped[str] = mapped_column(String(32))
    #: The language the caller was served in.
    language: Mapped[str] = mapped_column(String(16))
    #: E.164, or None when withheld or unusable (then `caller_raw` is all there is).
    caller_number: Mapped[str | None] = mapped_column(String(16))
    caller_raw: Mapped[str] = mapped_column(String(64), default="")
    #: The caller asked not to be named to the unit (whistle-blowers, neighbours).
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    transcript: Mapped[str] = mapped_column(Text, default="")
    recording_sid: Mapped[str | None] = mapped_column(String(34))
    state: Mapped[CaseState] = mapped_column(str_enum(CaseState, length=16))
    #: The unit it was dispatched to (a code of config/units.yaml).
    unit_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    remind_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    #: What the unit reported back when it resolved the case (反馈).
    feedback: Mapped[str | None] = mapped_column(Text)
    source: Mapped[CaseSource] = mapped_column(str_enum(CaseSource, length=16))
    #: Where the request is about, when a city app (Open311, the API) says so.
    address: Mapped[str | None] = mapped_column(String(256))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    media_url: Mapped[str | None] = mapped_column(String(500))
    #: Who filed it through a city app (Open311 `first_name`, `last_name`, `email`): for staff
    #: to reach them, never published. A phoned-in case has the caller's number instead.
    contact_first_name: Mapped[str | None] = mapped_column(String(64))
    contact_last_name: Mapped[str | None] = mapped_column(String(64))
    contact_email: Mapped[str | None] = mapped_column(String(254))

    __table_args__ = (
        CheckConstraint("reopen_count >= 0", name="reopen_count_not_negative"),
        Index("ix_cases_state_due_at", "state", "due_at"),
        Index("ix_cases_state_remind_at", "state", "remind_at"),
        Index("ix_cases_unit_code_state", "unit_code", "state"),
        Index("ix_cases_created_at", "created_at"),
        # The front door looks up a caller's open case on every call.
        Index("ix_cases_caller_number_state", "caller_number", "state"),
    )

    def __repr__(self) -> str:
        return f"<Case {self.number} {self.state}>"


class CaseEvent(Base):
    """One thing that happened to a case: who, when, from which state to which. Never changed."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cases.id", ondelete="RESTRICT"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who did it: "phone", "cli:<user>", "unit:<code>", "system"…
    actor: Mapped[str] = mapped_column(String(64))
    #: A workflow action (cases.workflow.Action), or "receive" and "remind".
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[CaseState | None] = mapped_column(_state_enum("from_state"))
    to_state: Mapped[CaseState] = mapped_column(_state_enum("to_state"))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (Index("ix_case_events_case_id_at", "case_id", "at"),)


class CaseCounter(Base):
    """The last case number given out on each local day."""

    __tablename__ = "case_counters"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


@event.listens_for(CaseEvent, "before_update")
@event.listens_for(CaseEvent, "before_delete")
def _refuse_change(_mapper: Mapper[Any], _conn: Any, target: CaseEvent) -> None:
    raise AppendOnlyError(f"case_events is append-only (event {target.id})")


class UnitPinFailure(Base):
    """A wrong PIN on the units' report-back line; too many lock the unit's line for a while."""

    __tablename__ = "unit_pin_failures"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    caller: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_unit_pin_failures_unit_code_at", "unit_code", "at"),)
