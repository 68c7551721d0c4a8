"""Moments and local dates, for the providers package (times are timezone-aware)."""

from __future__ import annotations

import datetime as dt


def aware(moment: dt.datetime, what: str = "now") -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime; pass a timezone-aware one (core.db.utcnow())")
    return moment


def local_date(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.date:
    """The date of `moment` in `tz` (None: in the moment's own timezone)."""
    return moment.astimezone(tz).date() if tz is not None else moment.date()
