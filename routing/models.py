"""Tables of the duty roster, the routing table, and what happened while bridging calls.

The roster's holidays are the hotline's calendar (core.calendar), its alerts core.alerts'.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, JSONDoc, UTCDateTime, str_enum, utcnow


class HolidayRule(enum.StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"
    ONLY = "only"


class Strategy(enum.StrEnum):
    ALL = "all"
    SEQUENTIAL = "sequential"


class RosterInfo(Base):
    """One row: which roster version is in force (bumped by every import), and its timezone."""

    __tablename__ = "roster_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)


class Officer(Base):
    """A person who answers forwarded calls on their own phone."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    #: Where the officer is rung: an E.164 number, or a `sip:` URI (a local carrier's gateway).
    phone: Mapped[str] = mapped_column(String(255), unique=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Ringing priority within the roster (file order).
    position: Mapped[int] = mapped_column(Integer)


class Shift(Base):
    """A weekly shift of one officer, in the hotline's local time (end <= start: overnight)."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    #: Seven characters, Monday first: "1111100" is weekdays.
    days: Mapped[str] = mapped_column(String(7))
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    holidays: Mapped[HolidayRule] = mapped_column(str_enum(HolidayRule, length=16))
    position: Mapped[int] = mapped_column(Integer)


class RosterOverride(Base):
    """A one-off change: an officer on duty (or off duty) for a period."""

    __tablename__ = "roster_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    on_duty: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (CheckConstraint("end_at > start_at", name="ends_after_start"),)


class RouteTier(Base):
    """One tier of a route: which team rings, how, and for how long."""

    __tablename__ = "route_tiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    strategy: Mapped[Strategy] = mapped_column(str_enum(Strategy, length=16))
    ring_seconds: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("route", "position", name="uq_route_tiers_route_position"),
        CheckConstraint("ring_seconds BETWEEN 5 AND 60", name="ring_seconds_range"),
    )


class BridgeAttempt(Base):
    """One <Dial> of a bridged call: who rang, who answered, how long it took."""

    __tablename__ = "bridge_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    route: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(Integer)
    #: Index of the tier in the route; -1 is the last-resort number.
    tier: Mapped[int] = mapped_column(Integer)
    #: [{"phone": E.164, "officer": code}]
    numbers: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: ringing, connected, or Twilio's DialCallStatus when nobody took the call.
    outcome: Mapped[str] = mapped_column(String(16), default="ringing")
    dial_call_sid: Mapped[str | None] = mapped_column(String(34))
    #: The E.164 number or SIP URI that accepted.
    answered_phone: Mapped[str | None] = mapped_column(String(255))
    answered_by: Mapped[str | None] = mapped_column(String(64))
    #: When the officer pressed a key to accept (the moment the caller reaches a person).
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("call_sid", "step", name="uq_bridge_attempts_call_sid_step"),
    )


class CallbackKind(enum.StrEnum):
    #: The caller hung up while officers' phones rang for an emergency (or the desk).
    ABANDONED_BRIDGE = "abandoned_bridge"
    #: The caller hung up in the IVR before anyone or anything served them.
    ABANDONED_IVR = "abandoned_ivr"
    #: Every tier and the last resort failed; the caller was asked to leave a message.
    UNANSWERED = "unanswered"
    #: The caller hung up while waiting in the desk's queue.
    ABANDONED_QUEUE = "abandoned_queue"
    #: The caller took the queue's call-back offer (kept their place and hung up).
    QUEUE_CALLBACK = "queue_callback"


class CallbackTask(Base):
    """A caller the center must call back (State Council guidance: call back missed calls).

    One per call; priority 0 is the highest (an abandoned emergency). Open until a duty officer
    records the outcome of the call-back.
    """

    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    kind: Mapped[CallbackKind] = mapped_column(str_enum(CallbackKind, length=24))
    priority: Mapped[int] = mapped_column(Integer)
    #: E.164, or None when the caller withheld their number (nobody can call them back).
    caller_number: Mapped[str | None] = mapped_column(String(16))
    #: The emergency route (or `desk`) the caller was being put through to, if any.
    route: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who took the task (a staff user name) and when.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: reached, no_answer, wrong_number, not_needed; set when the task is closed.
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Later calls from the same number while this task was open: grouped here, not multiplied.
    repeats: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_callback_tasks_open", "closed_at", "priority"),
        Index("ix_callback_tasks_caller_number_closed_at", "caller_number", "closed_at"),
    )
