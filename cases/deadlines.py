"""Time limits of cases, in working days of the hotline's timezone — pure, no database.

The local rules the hotline follows (see docs/DOMAIN.md):

==============  ====================  =======================================================
kind            limit                 due
==============  ====================  =======================================================
emergency       the same day          end of the local day the case was created
help            3 working days        end of the 3rd working day after the day of creation
complaint       13 working days       end of the 13th working day after the day of creation
consultation    1 working day         end of the next working day
==============  ====================  =======================================================

*Working days* are the hotline's calendar's (core.calendar: Monday to Friday minus the duty
roster's holidays, a `Mapping[date, str]`). The day a case is created never counts, even if it
is a working day: it is a partial day, and a case created at 23:50 must not lose one of its
days. A case created on Saturday, Sunday or a holiday starts counting on the next working day.

*End of a day* is the midnight that ends it (24:00 local, i.e. 00:00 of the next calendar day),
stored as an aware UTC instant. A case is overdue when `now >= due_at`; there is no 23:59:59 gap.
Around a DST change midnight is taken as the wall-clock time in the timezone (an ambiguous one
is its first occurrence), which zoneinfo resolves to one instant.

The kind of a case follows from its category (core.categories: emergency or service), and from
the complaint categories below.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.calendar import add_working_days
from core.categories import CATEGORIES

#: Categories that are complaints unless said otherwise (fake goods, pollution…).
COMPLAINT_CATEGORIES: frozenset[str] = frozenset({"market_regulation", "environment"})


class CaseKind(enum.StrEnum):
    EMERGENCY = "emergency"
    HELP = "help"
    COMPLAINT = "complaint"
    CONSULTATION = "consultation"


#: How many working days each kind has (emergencies: the same day, see `due_at`).
WORKING_DAYS: Mapping[CaseKind, int] = {
    CaseKind.HELP: 3,
    CaseKind.COMPLAINT: 13,
    CaseKind.CONSULTATION: 1,
}

#: The reminder comes when this share of the time has passed…
REMIND_SHARE = 0.75
#: …but at least this long before the deadline.
REMIND_LEAD = timedelta(hours=2)


def kind_for(category: str, complaint: bool | None = None) -> CaseKind:
    """The kind of a case of a classifier `category`.

    Emergency categories are always `emergency`. Otherwise `complaint=True` makes a complaint,
    `complaint=False` never does, and None (not known) uses the category's default:
    market_regulation and environment are complaints, consultation is a consultation, the rest
    are help requests. Unknown categories are treated like `other`.
    """
    if category in CATEGORIES.emergency:
        return CaseKind.EMERGENCY
    if complaint is None:
        complaint = category in COMPLAINT_CATEGORIES
    if complaint:
        return CaseKind.COMPLAINT
    if category == "consultation":
        return CaseKind.CONSULTATION
    return CaseKind.HELP


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """The midnight that ends local `day` (24:00 in `tz`), as an aware UTC datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def due_at(
    kind: CaseKind | str, created_at: datetime, tz: tzinfo, holidays: Mapping[date, str]
) -> datetime:
    """When a case of `kind` created at `created_at` (aware) is due, as an aware UTC datetime."""
    _require_aware(created_at, "created_at")
    kind = CaseKind(kind)
    created_day = created_at.astimezone(tz).date()
    if kind is CaseKind.EMERGENCY:
        return end_of_day(created_day, tz)
    return end_of_day(add_working_days(created_day, WORKING_DAYS[kind], holidays), tz)


def remind_at(
    due: datetime,
    created: datetime,
    *,
    share: float = REMIND_SHARE,
    lead: timedelta = REMIND_LEAD,
) -> datetime:
    """When to remind the unit: `share` of the time gone, but at least `lead` before `due`.

    Never before `created` (a case with little time is reminded at once). Aware UTC.
    """
    _require_aware(due, "due")
    _require_aware(created, "created")
    due, created = due.astimezone(UTC), created.astimezone(UTC)
    if due <= created:
        return created
    moment = min(created + (due - created) * share, due - lead)
    return max(moment, created)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime; give an aware one (e.g. core.db.utcnow())")
