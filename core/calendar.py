"""The hotline's calendar: its holidays and working days, in the hotline's timezone.

The holidays are the duty roster's (`holidays` in config/roster.yaml), stored with it in the
`holidays` table when a roster is imported (routing replaces them whole) and read back by
`stored_holidays`. Everything else takes them as a `Mapping[date, str]` (day → name).

*Working days* are Monday to Friday minus the holidays. Not modelled: make-up working days on a
weekend (调休). A weekend is always a day off here, so around such a weekend a count of working
days can end a day later than the official calendar says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base


class Holiday(Base):
    __tablename__ = "holidays"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


#: The stored holidays, by day.
_HOLIDAYS = select(Holiday).order_by(Holiday.day)


def stored_holidays(session: Session) -> dict[dt.date, str]:
    """The holidays of the imported duty roster (empty when none was imported)."""
    return {h.day: h.name for h in session.scalars(_HOLIDAYS)}


def is_working_day(day: dt.date, holidays: Mapping[dt.date, str]) -> bool:
    """Monday to Friday, and not a holiday."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(day: dt.date, count: int, holidays: Mapping[dt.date, str]) -> dt.date:
    """The `count`-th working day after `day` (`day` itself never counts; 0 gives `day`)."""
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    found = 0
    while found < count:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            found += 1
    return day
