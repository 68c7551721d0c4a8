"""Callback surveys: one per resolution of a case, its call attempts, its answers; opt-outs."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, UTCDateTime, str_enum, utcnow


class SurveyState(enum.StrEnum):
    #: Waiting for `due_at` (the first call, or the next attempt).
    SCHEDULED = "scheduled"
    #: An attempt is being placed or is on the line.
    DIALING = "dialing"
    #: A person answered the call (`outcome` says how it went).
    COMPLETED = "completed"
    #: Every attempt failed (machine, no answer, busy, failed).
    UNREACHABLE = "unreachable"
    #: Not to be called (opted out, confidential, no number): kept so the decision is visible.
    CANCELLED = "cancelled"


class SurveyOutcome(enum.StrEnum):
    """How a completed survey went (the column is plain text: new outcomes need no migration)."""

    ANSWERED = "answered"  # at least one question answered
    NO_ANSWERS = "no_answers"  # a person picked up but answered nothing
    OPTED_OUT = "opted_out"  # pressed the opt-out key


class CaseSurvey(Base):
    """The callback survey of one resolution of a case (a reopened case gets a new round)."""

    __tablename__ = "case_surveys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32))
    #: The case's reopen count when it was resolved: one survey per round.
    round: Mapped[int] = mapped_column()
    caller_number: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[SurveyState] = mapped_column(str_enum(SurveyState, length=16))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Attempts placed so far (the one on the line included).
    attempts: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The case's language then: the survey speaks it.
    language: Mapped[str] = mapped_column(String(8), default="zh")
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    concluded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(24))
    #: Whether an answer was negative (the case was sent back to be redone).
    negative: Mapped[bool | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("case_number", "round", name="uq_case_surveys_case_number_round"),
        Index("ix_case_surveys_state_due_at", "state", "due_at"),
    )


class SurveyAttempt(Base):
    """One outbound call of a survey, with what Twilio reported about it."""

    __tablename__ = "survey_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("case_surveys.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column()
    call_sid: Mapped[str | None] = mapped_column(String(34))
    #: queued … completed, busy, no-answer, failed, canceled (Twilio's CallStatus), or error.
    status: Mapped[str] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(String(300))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[int | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("survey_id", "attempt", name="uq_survey_attempts_survey_id_attempt"),
        Index("ix_survey_attempts_call_sid", "call_sid"),
    )


class SurveyAnswer(Base):
    """One answer, stored as it arrives: a caller who hangs up halfway leaves what they said."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("case_surveys.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(32))
    #: The answer's value (a choice), None for a comment.
    value: Mapped[str | None] = mapped_column(String(32))
    positive: Mapped[bool | None] = mapped_column()
    #: What the caller said (speech to text), or the key pressed.
    text: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(8))  # dtmf | speech
    attempt: Mapped[int] = mapped_column()
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("survey_id", "question", name="uq_survey_answers_survey_id_question"),
    )


class SurveyOptOut(Base):
    """A number that must never get a survey call again."""

    __tablename__ = "survey_optouts"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
