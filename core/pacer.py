"""A pace limit shared by every process and machine: one row per limit, claimed in the database.

Twilio queues outbound calls above an account's calls-per-second limit (1 CPS by default) and
each account has one limit, however many workers dial. So the limit lives in the database that
all workers share: `pacers.next_at` is the earliest moment (epoch seconds) the next call may
start. A worker takes a slot with one conditional UPDATE … RETURNING that moves `next_at` one
interval on; PostgreSQL's row lock (SQLite's write lock) serialises the claims, so two workers
can never take the same slot, and slots are never closer than the interval. A worker that would
have to wait longer than `max_wait_s` takes no slot and is told when to come back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Float, String, case, literal, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, insert_if_missing


class Pacer(Base):
    __tablename__ = "pacers"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Epoch seconds: the earliest start of the next slot.
    next_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class Slot:
    """A claimed slot: start at `at` (epoch seconds), or, when not granted, retry at `retry_at`."""

    granted: bool
    at: float


def claim(
    session: Session, name: str, interval_s: float, *, max_wait_s: float, now: float | None = None
) -> Slot:
    """Claim the next slot of the `name` limit, in the caller's transaction (commit it soon).

    Granted: the slot starts at `Slot.at`, at most `max_wait_s` from now; wait for it and go.
    Not granted: nothing changed; `Slot.at` is when a slot will next be within reach.
    """
    now = time.time() if now is None else now
    insert_if_missing(session, Pacer, {"name": name, "next_at": 0.0}, unique="name")
    start = case((Pacer.next_at > literal(now), Pacer.next_at), else_=literal(now))
    granted = session.execute(
        update(Pacer)
        .where(Pacer.name == name, Pacer.next_at <= now + max_wait_s)
        .values(next_at=start + interval_s)
        .returning(Pacer.next_at)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if granted is not None:
        return Slot(True, float(granted) - interval_s)
    current = session.get(Pacer, name, populate_existing=True)
    next_at = current.next_at if current is not None else now
    return Slot(False, next_at - max_wait_s)
