"""Recordings made by Twilio, and where we keep our own copy."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, UTCDateTime, str_enum, utcnow


class RecordingState(enum.StrEnum):
    #: Twilio has it; our copy is not complete yet.
    PENDING = "pending"
    #: Our copy is complete and its checksum verified.
    STORED = "stored"
    #: Twilio reported no usable recording, or every download attempt failed.
    FAILED = "failed"


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True)
    call_sid: Mapped[str] = mapped_column(String(34), index=True)
    media_url: Mapped[str] = mapped_column(String(500))
    #: RecordVerb (a caller's message or request), DialVerb (a bridged call)…
    source: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[RecordingState] = mapped_column(str_enum(RecordingState, length=16))
    duration_s: Mapped[int | None] = mapped_column()
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_remote_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
