"""Tables of the shared core: text messages and what Twilio reported about their delivery."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, UTCDateTime, utcnow


class SmsMessage(Base):
    """One text message the hotline sends, from queued to Twilio's last delivery report.

    `status` is ours until Twilio accepts the message (`pending`, `failed` when every attempt
    failed, `refused` when it may not be sent), then Twilio's MessageStatus as reported to the
    status callback (queued, sent, delivered, undelivered, failed, …).
    """

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: The job key that queued it: one message per key, however often it is scheduled.
    key: Mapped[str] = mapped_column(String(128), unique=True)
    to_number: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    #: The case it is about, if any (so a case's page can say whether its text arrived).
    case_number: Mapped[str | None] = mapped_column(String(32))
    message_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    status: Mapped[str] = mapped_column(String(24), default="pending")
    error_code: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_sms_messages_case_number", "case_number"),)
