"""Case time limits: working days, weekends and holidays, same-day emergencies, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases.deadlines import CaseKind, due_at, end_of_day, kind_for, remind_at
from core.calendar import add_working_days, is_working_day
from core.categories import CATEGORIES, Kind

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
NO_HOLIDAYS: dict[date, str] = {}
#: 2026: National Day week, Thursday 1 to Wednesday 7 October (3 and 4 are a weekend anyway).
NATIONAL_DAY = {date(2026, 10, d): "国庆节" for d in range(1, 8)}


def local(day: date, hour: int = 0, minute: int = 0, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def midnight_after(day: date, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The end of local `day`, in UTC."""
    return local(day + timedelta(days=1), tz=tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("category", "complaint", "kind"),
    [
        ("police", None, CaseKind.EMERGENCY),
        ("fire", True, CaseKind.EMERGENCY),  # an emergency stays one, whatever else is said
        ("medical", False, CaseKind.EMERGENCY),
        ("traffic", None, CaseKind.EMERGENCY),
        ("disaster", None, CaseKind.EMERGENCY),
        ("market_regulation", None, CaseKind.COMPLAINT),
        ("environment", None, CaseKind.COMPLAINT),
        ("environment", False, CaseKind.HELP),
        ("consultation", None, CaseKind.CONSULTATION),
        ("consultation", True, CaseKind.COMPLAINT),
        ("city_management", None, CaseKind.HELP),
        ("city_management", True, CaseKind.COMPLAINT),
        ("utilities", None, CaseKind.HELP),
        ("household_services", None, CaseKind.HELP),
        ("other", None, CaseKind.HELP),
        ("not_a_category", None, CaseKind.HELP),
    ],
)
def test_kind_for(category: str, complaint: bool | None, kind: CaseKind) -> None:
    assert kind_for(category, complaint) is kind


def test_only_emergency_categories_make_emergencies() -> None:
    for category in CATEGORIES:
        for complaint in (None, True, False):
            is_emergency = kind_for(category, complaint) is CaseKind.EMERGENCY
            assert is_emergency == (CATEGORIES[category].kind is Kind.EMERGENCY), category


def test_working_days_skip_weekends_and_holidays() -> None:
    assert is_working_day(date(2026, 3, 2), NO_HOLIDAYS)  # Monday
    assert not is_working_day(date(2026, 3, 7), NO_HOLIDAYS)  # Saturday
    assert not is_working_day(date(2026, 3, 8), NO_HOLIDAYS)  # Sunday
    assert not is_working_day(date(2026, 10, 1), NATIONAL_DAY)  # a holiday on a Thursday
    assert add_working_days(date(2026, 3, 6), 1, NO_HOLIDAYS) == date(2026, 3, 9)  # Fri → Mon
    assert add_working_days(date(2026, 3, 2), 0, NO_HOLIDAYS) == date(2026, 3, 2)
    assert add_working_days(date(2026, 9, 30), 1, NATIONAL_DAY) == date(2026, 10, 8)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 3, 2), -1, NO_HOLIDAYS)


@pytest.mark.parametrize(
    ("kind", "created", "last_day"),
    [
        # help: 3 working days after the day of creation (which never counts)
        (CaseKind.HELP, local(date(2026, 3, 2), 10), date(2026, 3, 5)),  # Mon → Thu
        (CaseKind.HELP, local(date(2026, 3, 2), 0, 1), date(2026, 3, 5)),  # early or late alike
        (CaseKind.HELP, local(date(2026, 3, 2), 23, 59), date(2026, 3, 5)),
        (CaseKind.HELP, local(date(2026, 3, 5), 10), date(2026, 3, 10)),  # Thu → Fri, Mon, Tue
        (CaseKind.HELP, local(date(2026, 3, 6), 15), date(2026, 3, 11)),  # Fri → Mon, Tue, Wed
        (CaseKind.HELP, local(date(2026, 3, 7), 10), date(2026, 3, 11)),  # Sat → Mon, Tue, Wed
        (CaseKind.HELP, local(date(2026, 3, 8), 22), date(2026, 3, 11)),  # Sun → Mon, Tue, Wed
        # complaint: 13 working days
        (CaseKind.COMPLAINT, local(date(2026, 3, 2), 9), date(2026, 3, 19)),
        # consultation: the next working day
        (CaseKind.CONSULTATION, local(date(2026, 3, 2), 9), date(2026, 3, 3)),
        (CaseKind.CONSULTATION, local(date(2026, 3, 6), 9), date(2026, 3, 9)),
    ],
)
def test_due_at_counts_working_days(kind: CaseKind, created: datetime, last_day: date) -> None:
    due = due_at(kind, created, SHANGHAI, NO_HOLIDAYS)
    assert due == midnight_after(last_day)
    assert due.tzinfo is UTC


def test_due_at_skips_a_holiday_week() -> None:
    created = local(date(2026, 9, 30), 16)  # the Wednesday before National Day
    # Oct 1-7 holidays (3, 4 also a weekend), Oct 8 Thu, 9 Fri, 10-11 weekend, 12 Mon
    assert due_at(CaseKind.HELP, created, SHANGHAI, NATIONAL_DAY) == midnight_after(
        date(2026, 10, 12)
    )
    assert due_at(CaseKind.CONSULTATION, created, SHANGHAI, NATIONAL_DAY) == midnight_after(
        date(2026, 10, 8)
    )
    # Created on a holiday: counting starts after the holidays.
    on_holiday = local(date(2026, 10, 2), 11)
    assert due_at(CaseKind.HELP, on_holiday, SHANGHAI, NATIONAL_DAY) == midnight_after(
        date(2026, 10, 12)
    )
    # Without the holidays it would have been Monday 5 October.
    assert due_at(CaseKind.HELP, created, SHANGHAI, NO_HOLIDAYS) == midnight_after(
        date(2026, 10, 5)
    )


def test_emergency_is_due_at_the_end_of_the_local_day() -> None:
    late = local(date(2026, 3, 2), 23, 50)
    assert due_at(CaseKind.EMERGENCY, late, SHANGHAI, NO_HOLIDAYS) == midnight_after(
        date(2026, 3, 2)
    )
    # Weekends and holidays do not matter for an emergency.
    on_holiday = local(date(2026, 10, 1), 8)
    assert due_at(CaseKind.EMERGENCY, on_holiday, SHANGHAI, NATIONAL_DAY) == midnight_after(
        date(2026, 10, 1)
    )
    # 17:00 UTC is already 01:00 the next day in Shanghai: that local day counts.
    utc = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert due_at("emergency", utc, SHANGHAI, NO_HOLIDAYS) == midnight_after(date(2026, 3, 3))


def test_due_at_in_a_timezone_with_dst() -> None:
    # New York springs forward on Sunday 8 March 2026: Monday's midnight is EDT (UTC-4).
    created = local(date(2026, 3, 6), 12, tz=NEW_YORK)  # Friday, EST
    due = due_at(CaseKind.CONSULTATION, created, NEW_YORK, NO_HOLIDAYS)
    assert due == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 3, 6), NEW_YORK) == datetime(2026, 3, 7, 5, 0, tzinfo=UTC)


def test_due_at_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        due_at(CaseKind.HELP, datetime(2026, 3, 2, 10, 0), SHANGHAI, NO_HOLIDAYS)  # noqa: DTZ001


def test_remind_at() -> None:
    created = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    # 72 h: 75% is 54 h in, well before the last 2 h.
    assert remind_at(created + timedelta(hours=72), created) == created + timedelta(hours=54)
    # 4 h: 75% would be 1 h before due; at least 2 h before wins.
    assert remind_at(created + timedelta(hours=4), created) == created + timedelta(hours=2)
    # 1 h (a late emergency): at once, never before creation.
    assert remind_at(created + timedelta(hours=1), created) == created
    assert remind_at(created, created) == created
    assert remind_at(created - timedelta(hours=1), created) == created
    # Other shares and leads.
    due = created + timedelta(hours=100)
    assert remind_at(due, created, share=0.5, lead=timedelta(hours=1)) == created + timedelta(
        hours=50
    )
    # Aware in, aware UTC out, whatever zone was given.
    shanghai_created = created.astimezone(SHANGHAI)
    result = remind_at(created + timedelta(hours=72), shanghai_created)
    assert result.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        remind_at(datetime(2026, 3, 3), created)  # noqa: DTZ001


def test_a_real_case_timeline() -> None:
    """A help request on Friday afternoon: due end of Wednesday, reminded 75% of the way."""
    created = local(date(2026, 3, 6), 15)
    due = due_at(kind_for("utilities"), created, SHANGHAI, NO_HOLIDAYS)
    assert due == midnight_after(date(2026, 3, 11))
    reminder = remind_at(due, created)
    assert created < reminder < due - timedelta(hours=2)
    assert reminder == created + (due - created) * 0.75
