"""Alerts: what a supervisor must act on now (an abandoned emergency, a caller's message, an
overdue case), raised by any domain and shown on the console until acknowledged.

`raise_alert` is the `alert` kind of durable records (core.durable): raised in a request's
transaction, or spooled with the rest of a webhook's records while the database is down.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import durable
from core.db import Base, BigIntPK, UTCDateTime, insert_if_missing, utcnow
from core.durable import parse_time


class Alert(Base):
    """Something a supervisor must act on now; priority 0 is the highest."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(34))
    priority: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The staff user who acknowledged it on the console.
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_alerts_open", "acknowledged_at", "priority"),
        UniqueConstraint("call_sid", "kind", name="uq_alerts_call_sid_kind"),
    )


@durable.handler("alert")
def raise_alert(session: Session, record: dict[str, Any]) -> None:
    """Open an alert (one per call and kind, however often it is raised)."""
    insert_if_missing(
        session,
        Alert,
        {
            "call_sid": record.get("call_sid"),
            "priority": record["priority"],
            "kind": record["kind"],
            "message": record["message"],
            "recording_url": record.get("recording_url"),
            "created_at": parse_time(record["at"]),
        },
        unique=("call_sid", "kind"),
    )


def open_alerts(session: Session, limit: int = 50) -> list[Alert]:
    """Alerts nobody has acknowledged yet, the most urgent and then the oldest first."""
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.acknowledged_at.is_(None))
            .order_by(Alert.priority, Alert.created_at, Alert.id)
            .limit(limit)
        )
    )


def acknowledge(session: Session, alert_id: int, by: str, now: dt.datetime) -> bool:
    """Mark an open alert seen by `by`; False if there is no such open alert (already
    acknowledged, by someone else perhaps: the first acknowledgement stands)."""
    done = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by[:64])
    )
    return bool(getattr(done, "rowcount", 0))
