"""Survey calls to be placed (one per resolution of a case) and numbers that opted out."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, UTCDateTime, str_enum, utcnow


class SurveyState(enum.StrEnum):
    SCHEDULED = "scheduled"
    DIALING = "dialing"
    COMPLETED = "completed"
    UNREACHABLE = "unreachable"
    #: Not to be called (opted out, confidential, no number): kept so the decision is visible.
    CANCELLED = "cancelled"


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
    attempts: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("case_number", "round", name="uq_case_surveys_case_number_round"),
        Index("ix_case_surveys_state_due_at", "state", "due_at"),
    )


class SurveyOptOut(Base):
    """A number that must never get a survey call again."""

    __tablename__ = "survey_optouts"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
