"""Times as the center's people read them: always in the hotline's time zone, and a deadline as
the local day it ends.

A deadline of "three working days" ends at local midnight, which a clock shows as 00:00 of the
*next* day ("12-05 00:00" for the end of 4 December) and a dispatcher reads as a day too late.
`deadline` writes such a moment as the end of the day it closes: "12月4日 24:00" in Chinese,
"4 Dec, end of day" in English; any other moment as the day and time it falls on.
"""

from __future__ import annotations

import datetime as dt

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local(value: dt.datetime | None, tz: dt.tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """`value` in the hotline's zone `tz`, as `fmt` writes it ("-" if none)."""
    return value.astimezone(tz).strftime(fmt) if value else "-"


def deadline(
    value: dt.datetime | None, tz: dt.tzinfo, language: str, now: dt.datetime | None = None
) -> str:
    """`value` as the local day (and time) a deadline ends, in `language` ("zh" or "en"); the
    year is written only when it is not the current one. "-" if none."""
    if value is None:
        return "-"
    moment = value.astimezone(tz)
    end_of_day = moment.time() == dt.time(0, 0)
    day = (moment - dt.timedelta(days=1)).date() if end_of_day else moment.date()
    this_year = (now or dt.datetime.now(dt.UTC)).astimezone(tz).year
    if language == "zh":
        year = "" if day.year == this_year else f"{day.year}年"
        clock = "24:00" if end_of_day else f"{moment:%H:%M}"
        return f"{year}{day.month}月{day.day}日 {clock}"
    year = "" if day.year == this_year else f" {day.year}"
    clock = ", end of day" if end_of_day else f" {moment:%H:%M}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]}{year}{clock}"
