"""When a survey may be placed: after a delay, inside calling hours, never on a holiday."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from core.db import utcnow
from surveys.definition import Survey


def now() -> dt.datetime:
    """The surveys' clock (aware UTC); tests set it, as calling hours depend on it."""
    return utcnow()


def next_calling_time(
    after: dt.datetime, survey: Survey, tz: dt.tzinfo, holidays: Mapping[dt.date, str]
) -> dt.datetime:
    """The first moment at or after `after` inside calling hours (aware UTC)."""
    local = after.astimezone(tz)
    for _ in range(400):  # a year of holidays at most; the loop always ends well before
        day = local.date()
        if survey.skip_holidays and day in holidays:
            local = dt.datetime.combine(day + dt.timedelta(days=1), survey.hours_start, tz)
            continue
        if local.time() < survey.hours_start:
            local = dt.datetime.combine(day, survey.hours_start, tz)
        elif local.time() >= survey.hours_end:
            local = dt.datetime.combine(day + dt.timedelta(days=1), survey.hours_start, tz)
            continue
        return local.astimezone(dt.UTC)
    raise ValueError("no calling time within a year")


def due_time(
    resolved_at: dt.datetime, survey: Survey, tz: dt.tzinfo, holidays: Mapping[dt.date, str]
) -> dt.datetime:
    """When the survey of a case resolved at `resolved_at` is due."""
    return next_calling_time(resolved_at + survey.delay, survey, tz, holidays)
