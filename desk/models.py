"""Tables: `call_takers`, the center's people who answer the desk queue, and `queue_entries`,
one row per caller who waited in it (how long, how it ended)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, UTCDateTime, str_enum, utcnow


class TakerState(enum.StrEnum):
    #: Signed in and free: the next caller may be put through.
    AVAILABLE = "available"
    #: Being rung for a caller, or talking to one.
    ON_CALL = "on_call"
    #: The seconds after a call to finish its notes (DESK_WRAP_UP_S); then available again.
    WRAP_UP = "wrap_up"
    #: Signed in, not taking calls (a break, or a missed call: they did not answer).
    BREAK = "break"
    LOGGED_OUT = "logged_out"


#: States in which a call-taker is at the desk (signed in), whatever they are doing.
SIGNED_IN = (TakerState.AVAILABLE, TakerState.ON_CALL, TakerState.WRAP_UP, TakerState.BREAK)


class QueueResult(enum.StrEnum):
    """How a wait ended (Twilio's QueueResult values, and ours)."""

    WAITING = "waiting"
    #: A call-taker took the call (Twilio: bridged).
    BRIDGED = "bridged"
    #: The caller hung up while waiting (Twilio: hangup): a call-back task is opened.
    HANGUP = "hangup"
    #: The caller took the call-back offer and left the queue (Twilio: leave).
    CALLBACK = "callback"
    #: Twilio could not queue the call (queue-full, error, system-error): put through directly.
    FAILED = "failed"


class CallTaker(Base):
    """A staff user who answers the desk queue, on a desk phone (E.164 or a SIP URI)."""

    __tablename__ = "call_takers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The staff user (staff_users.username) it is.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(255))
    state: Mapped[TakerState] = mapped_column(str_enum(TakerState, length=16))
    #: Since when they are in `state` (the longest-idle available call-taker is offered first).
    state_since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The call-taker's own leg (the call that rings their phone), while ON_CALL.
    leg_sid: Mapped[str | None] = mapped_column(String(34))
    #: When they pressed a key to take the offered call (a voicemail never does).
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The caller they were put through to last.
    caller_sid: Mapped[str | None] = mapped_column(String(34))
    #: Calls offered that they did not answer (each one sets them on a break).
    missed: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QueueEntry(Base):
    """One caller's wait in a desk queue."""

    __tablename__ = "queue_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    #: Twilio's queue name: `desk`, or `desk-urgent` (answered first).
    queue: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    caller_number: Mapped[str | None] = mapped_column(String(16))
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[QueueResult] = mapped_column(str_enum(QueueResult, length=16))
    #: Seconds waited (Twilio's QueueTime when it reports it).
    wait_s: Mapped[int | None] = mapped_column(Integer)
    #: When the caller pressed 1 for a call-back (their <Leave> is then a call-back, not a
    #: hand-over to the desk's roster route).
    callback_asked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The call-taker who took it.
    answered_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_queue_entries_result_enqueued_at", "result", "enqueued_at"),)


class TakerStateChange(Base):
    """A call-taker's state from `at` on (append-only): occupancy is measured from it."""

    __tablename__ = "taker_state_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    state: Mapped[TakerState] = mapped_column(str_enum(TakerState, length=16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_taker_state_changes_at", "at"),)
