"""Per-call IVR state, keyed by CallSid: kept in the database, never in cookies or memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.categories import Kind
from core.db import Base, BigIntPK, JSONDoc, UTCDateTime, str_enum, utcnow


class IvrSession(Base):
    """Where one call is in the IVR, what the caller said, and how it was classified.

    `step` counts the Gather results processed; each Gather's action URL carries the step it
    was issued at, so a retried webhook is recognised and answered with `last_twiml` again
    instead of advancing the call twice.
    """

    __tablename__ = "ivr_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(
        String(34), ForeignKey("calls.call_sid", ondelete="CASCADE"), unique=True
    )
    node: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(default=0)
    no_input_count: Mapped[int] = mapped_column(default=0)
    no_match_count: Mapped[int] = mapped_column(default=0)
    #: Keys pressed, in order.
    digits: Mapped[str] = mapped_column(String(64), default="")
    #: What the caller said: [{"text", "confidence", "at"}], in order.
    utterances: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    kind: Mapped[Kind | None] = mapped_column(str_enum(Kind, length=16))
    category: Mapped[str | None] = mapped_column(String(32))
    classifier_confidence: Mapped[float | None] = mapped_column(Float)
    #: Where the IVR handed the call over (emergency, service, desk), and why.
    branch: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    last_twiml: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    handed_over_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("step >= 0", name="step_not_negative"),)
