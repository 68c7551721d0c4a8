"""The duty roster: who is on duty, whom a call rings, coverage, and the roster file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from config.settings import CONFIG_DIR
from routing.roster import (
    MAX_PER_DIAL,
    ROUTE_KEYS,
    DialStep,
    Gap,
    Officer,
    Roster,
    RosterError,
    Shift,
    Tier,
    coverage_gaps,
    on_duty,
    plan,
    shift_window,
)
from routing.rosterdump import roster_to_dict
from routing.rosterfile import load_roster, parse_roster

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 3, 2)  # a week without holidays
DEMO_FILE = CONFIG_DIR / "roster.yaml"
LAST_RESORT = "+865996110119"


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Shanghai time `day` days after MONDAY (0 = Monday 2 March 2026, 6 = Sunday 8 March)."""
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), tzinfo=SHANGHAI)


def base_doc() -> dict[str, Any]:
    """Two teams, three officers in alpha and one in beta; every route rings alpha, then beta."""
    return {
        "timezone": "Asia/Shanghai",
        "teams": [
            {"code": "alpha", "name": {"zh": "甲队", "en": "Alpha"}},
            {"code": "beta", "name": {"zh": "乙队", "en": "Beta"}},
        ],
        "officers": [
            {"code": "A1", "name": "甲一", "team": "alpha", "phone": "13805990001"},
            {"code": "A2", "name": "甲二", "team": "alpha", "phone": "13805990002"},
            {"code": "A3", "name": "甲三", "team": "alpha", "phone": "13805990003"},
            {"code": "B1", "name": "乙一", "team": "beta", "phone": "13805990011"},
        ],
        "shifts": [],
        "routing": {
            key: [
                {"team": "alpha", "strategy": "all", "ring_seconds": 20},
                {"team": "beta", "strategy": "all", "ring_seconds": 15},
            ]
            for key in ROUTE_KEYS
        },
    }


def shift(officers: list[str], days: Any, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"officers": officers, "days": days, "start": start, "end": end, **extra}


def make_roster(
    shifts: Iterable[dict[str, Any]] = (),
    overrides: Iterable[dict[str, Any]] = (),
    holidays: Iterable[dict[str, Any]] = (),
    **changes: Any,
) -> Roster:
    doc = base_doc()
    doc.update(shifts=list(shifts), overrides=list(overrides), holidays=list(holidays))
    doc.update(changes)
    return parse_roster(doc, "CN")


def codes(officers: Iterable[Officer]) -> list[str]:
    return [o.code for o in officers]


# --- on duty -------------------------------------------------------------------------------------


def test_overnight_shift_runs_past_midnight() -> None:
    roster = make_roster([shift(["A1"], ["mon"], "20:00", "08:00")])
    assert codes(on_duty(roster, "alpha", at(0, 19, 59))) == []
    assert codes(on_duty(roster, "alpha", at(0, 20))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(1, 3))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(1, 7, 59))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(1, 8))) == []
    assert codes(on_duty(roster, "alpha", at(1, 21))) == []  # Tuesday night: not a listed day


def test_sunday_night_shift_runs_into_monday_morning() -> None:
    roster = make_roster([shift(["A1"], ["sun"], "20:00", "08:00")])
    assert codes(on_duty(roster, "alpha", at(6, 23))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(7, 3))) == ["A1"]  # the next Monday
    assert codes(on_duty(roster, "alpha", at(0, 7, 59))) == ["A1"]  # from Sunday 1 March
    assert codes(on_duty(roster, "alpha", at(6, 3))) == []  # Saturday night is not a shift
    assert codes(on_duty(roster, "alpha", at(7, 8))) == []


def test_shift_with_end_equal_to_start_lasts_24_hours() -> None:
    roster = make_roster([shift(["A1"], ["wed"], "08:00", "08:00")])
    assert codes(on_duty(roster, "alpha", at(2, 7, 59))) == []
    assert codes(on_duty(roster, "alpha", at(2, 8))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(3, 7, 59))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(3, 8))) == []


@pytest.mark.parametrize(
    ("days", "working"),
    [
        ("daily", {0, 1, 2, 3, 4, 5, 6}),
        ("weekdays", {0, 1, 2, 3, 4}),
        ("weekends", {5, 6}),
        (["mon", "wed", "Friday"], {0, 2, 4}),
        ("sun", {6}),
    ],
)
def test_weekly_day_filters(days: Any, working: set[int]) -> None:
    roster = make_roster([shift(["A1"], days, "08:00", "20:00")])
    found = {day for day in range(7) if on_duty(roster, "alpha", at(day, 12))}
    assert found == working
    assert all(not on_duty(roster, "alpha", at(day, 21)) for day in range(7))


def test_holiday_rules_include_exclude_only() -> None:
    roster = make_roster(
        [
            shift(["A1"], "daily", "08:00", "20:00", holidays="include"),
            shift(["A2"], "daily", "08:00", "20:00", holidays="exclude"),
            shift(["A3"], "daily", "08:00", "20:00", holidays="only"),
        ],
        holidays=[{"date": MONDAY + timedelta(days=2), "name": "测试节"}],  # Wednesday
    )
    assert codes(on_duty(roster, "alpha", at(1, 12))) == ["A1", "A2"]
    assert codes(on_duty(roster, "alpha", at(2, 12))) == ["A1", "A3"]
    assert codes(on_duty(roster, "alpha", at(3, 12))) == ["A1", "A2"]


def test_holiday_rule_is_judged_on_the_day_the_shift_starts() -> None:
    roster = make_roster(
        [
            shift(["A1"], "daily", "20:00", "08:00", holidays="only"),
            shift(["A2"], "daily", "20:00", "08:00", holidays="exclude"),
        ],
        holidays=[{"date": "2026-03-04", "name": "测试节"}],  # Wednesday
    )
    # Wednesday 03:00 belongs to Tuesday's night (not a holiday), Thursday 03:00 to Wednesday's.
    assert codes(on_duty(roster, "alpha", at(2, 3))) == ["A2"]
    assert codes(on_duty(roster, "alpha", at(3, 3))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(2, 21))) == ["A1"]


def test_override_on_duty_adds_a_period() -> None:
    roster = make_roster(
        overrides=[
            {"officer": "A1", "start": "2026-03-03 10:00", "end": "2026-03-03 12:00",
             "on_duty": True},
            # Given with an offset: 02:00 UTC is 10:00 in Shanghai.
            {"officer": "A2", "start": "2026-03-03T02:00:00+00:00", "end": "2026-03-03 11:00",
             "on_duty": True},
        ]
    )  # fmt: skip
    assert codes(on_duty(roster, "alpha", at(1, 9, 59))) == []
    assert codes(on_duty(roster, "alpha", at(1, 10))) == ["A1", "A2"]
    assert codes(on_duty(roster, "alpha", at(1, 11))) == ["A1"]
    assert codes(on_duty(roster, "alpha", at(1, 12))) == []


def test_override_off_duty_beats_shifts_and_on_duty_overrides() -> None:
    roster = make_roster(
        [shift(["A1", "A2"], "daily", "08:00", "20:00")],
        overrides=[
            {"officer": "A1", "start": "2026-03-03 00:00", "end": "2026-03-04 00:00",
             "on_duty": False, "note": "病假"},
            {"officer": "A3", "start": "2026-03-03 09:00", "end": "2026-03-03 18:00",
             "on_duty": True},
            {"officer": "A3", "start": "2026-03-03 12:00", "end": "2026-03-03 13:00",
             "on_duty": False},
        ],
    )  # fmt: skip
    assert codes(on_duty(roster, "alpha", at(0, 12))) == ["A1", "A2"]
    assert codes(on_duty(roster, "alpha", at(1, 11))) == ["A2", "A3"]
    assert codes(on_duty(roster, "alpha", at(1, 12, 30))) == ["A2"]
    assert codes(on_duty(roster, "alpha", at(2, 12))) == ["A1", "A2"]


def test_unavailable_officer_is_never_on_duty() -> None:
    doc = base_doc()
    doc["officers"][0]["available"] = False
    doc["shifts"] = [shift(["A1", "A2"], "daily", "08:00", "20:00")]
    doc["overrides"] = [
        {"officer": "A1", "start": "2026-03-03 00:00", "end": "2026-03-04 00:00", "on_duty": True}
    ]
    roster = parse_roster(doc, "CN")
    assert codes(on_duty(roster, "alpha", at(1, 12))) == ["A2"]
    assert codes(on_duty(roster, "alpha", at(1, 22))) == []


def test_on_duty_is_in_file_order_whatever_the_zone_of_the_moment() -> None:
    roster = make_roster([shift(["A3", "A1"], "daily", "08:00", "20:00")])
    assert codes(on_duty(roster, "alpha", at(0, 12))) == ["A1", "A3"]
    assert on_duty(roster, "alpha", at(0, 12).astimezone(UTC)) == on_duty(
        roster, "alpha", at(0, 12)
    )


def test_on_duty_refuses_naive_datetimes_and_unknown_teams() -> None:
    roster = make_roster()
    with pytest.raises(ValueError, match="timezone-aware"):
        on_duty(roster, "alpha", datetime(2026, 3, 2, 12))  # noqa: DTZ001
    with pytest.raises(KeyError):
        on_duty(roster, "gamma", at(0, 12))


# --- plan ----------------------------------------------------------------------------------------


def phone(code: str, roster: Roster) -> str:
    return roster.officers[code].phone


def test_plan_rings_a_team_together_then_the_next_tier() -> None:
    roster = make_roster([shift(["A1", "A2", "B1"], "daily", "08:00", "20:00")])
    steps = plan(roster, "fire", at(0, 12), None)
    assert steps == (
        DialStep(0, (("+8613805990001", "A1"), ("+8613805990002", "A2")), 20),
        DialStep(1, (("+8613805990011", "B1"),), 15),
    )


def test_plan_sequential_rings_one_officer_per_step_in_file_order() -> None:
    doc = base_doc()
    doc["routing"]["desk"] = [{"team": "alpha", "strategy": "sequential", "ring_seconds": 10}]
    doc["shifts"] = [shift(["A3", "A1", "A2"], "daily", "08:00", "20:00")]
    steps = plan(parse_roster(doc, "CN"), "desk", at(0, 12), None)
    assert [s.numbers[0][1] for s in steps] == ["A1", "A2", "A3"]
    assert all(s.tier == 0 and s.ring_seconds == 10 and len(s.numbers) == 1 for s in steps)


def test_plan_rings_the_first_ten_in_file_order_when_more_are_on_duty() -> None:
    doc = base_doc()
    doc["officers"] = [
        {"code": f"X{i:02d}", "name": f"警员{i}", "team": "alpha", "phone": f"138059901{i:02d}"}
        for i in range(12)
    ] + [doc["officers"][3]]
    # Listed backwards in the shift: the file order of officers decides, not the shift's.
    doc["shifts"] = [shift([f"X{i:02d}" for i in reversed(range(12))], "daily", "08:00", "20:00")]
    roster = parse_roster(doc, "CN")
    assert len(on_duty(roster, "alpha", at(0, 12))) == 12
    (step,) = plan(roster, "police", at(0, 12), None)
    assert MAX_PER_DIAL == 10
    assert [code for _, code in step.numbers] == [f"X{i:02d}" for i in range(10)]


def test_plan_skips_a_tier_with_nobody_on_duty() -> None:
    roster = make_roster([shift(["B1"], "daily", "08:00", "20:00")])
    assert plan(roster, "police", at(0, 12), None) == (
        DialStep(1, (("+8613805990011", "B1"),), 15),
    )


def test_plan_never_rings_a_number_twice() -> None:
    roster = make_roster([shift(["A1", "A2"], "daily", "08:00", "20:00")])
    # The same team twice in a route (the file refuses it; a hand-built roster may not).
    twice = dataclasses.replace(
        roster,
        routes={"police": (Tier("alpha", "all", 20), Tier("alpha", "sequential", 10))},
    )
    assert [s.tier for s in plan(twice, "police", at(0, 12), None)] == [0]
    # Two officers sharing a phone: rung once, as the first of them.
    shared = dataclasses.replace(
        roster,
        officers={
            **roster.officers,
            "A2": dataclasses.replace(roster.officers["A2"], phone=phone("A1", roster)),
        },
    )
    (step,) = plan(shared, "police", at(0, 12), None)
    assert step.numbers == ((phone("A1", roster), "A1"),)
    # The last resort is an officer already rung: not rung again.
    steps = plan(roster, "police", at(0, 12), phone("A2", roster))
    assert [s.tier for s in steps] == [0]


def test_plan_ends_with_the_last_resort() -> None:
    roster = make_roster([shift(["A1"], "daily", "08:00", "20:00")])
    steps = plan(roster, "medical", at(0, 12), LAST_RESORT, last_resort_ring_seconds=25)
    assert [s.tier for s in steps] == [0, -1]
    assert steps[-1] == DialStep(-1, ((LAST_RESORT, "last-resort"),), 25)
    # Nobody on duty at night: the last resort alone, with the default 30 seconds.
    assert plan(roster, "medical", at(0, 22), LAST_RESORT) == (
        DialStep(-1, ((LAST_RESORT, "last-resort"),), 30),
    )
    assert plan(roster, "medical", at(0, 22), None) == ()


def test_plan_for_an_unknown_route_uses_the_police_route() -> None:
    doc = base_doc()
    doc["routing"]["police"] = [{"team": "beta", "strategy": "all", "ring_seconds": 30}]
    doc["shifts"] = [shift(["A1", "B1"], "daily", "08:00", "20:00")]
    roster = parse_roster(doc, "CN")
    police = plan(roster, "police", at(0, 12), LAST_RESORT)
    assert police[0].numbers == ((phone("B1", roster), "B1"),)
    assert plan(roster, "ambulance", at(0, 12), LAST_RESORT) == police
    assert plan(roster, "fire", at(0, 12), LAST_RESORT) != police


# --- coverage ------------------------------------------------------------------------------------


def test_coverage_gaps_finds_the_nights_nobody_works() -> None:
    roster = make_roster([shift(["A1"], "weekdays", "08:00", "20:00")])
    gaps = coverage_gaps(roster, at(0), at(2))
    expected = [(at(0, 0), at(0, 8)), (at(0, 20), at(1, 8)), (at(1, 20), at(2, 0))]
    assert gaps == [Gap(route, start, end) for route in ROUTE_KEYS for start, end in expected]
    assert all(str(g.start.tzinfo) == "Asia/Shanghai" for g in gaps)


def test_coverage_gaps_is_per_route_and_counts_every_tier() -> None:
    doc = base_doc()
    doc["routing"]["desk"] = [{"team": "beta", "strategy": "sequential", "ring_seconds": 15}]
    doc["shifts"] = [
        shift(["A1"], "daily", "08:00", "20:00"),
        shift(["B1"], "daily", "20:00", "08:00"),
    ]
    roster = parse_roster(doc, "CN")
    # Queried in UTC, reported in Shanghai time.
    gaps = coverage_gaps(roster, at(0).astimezone(UTC), at(1).astimezone(UTC), timedelta(hours=1))
    assert gaps == [Gap("desk", at(0, 8), at(0, 20))]


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 2, tzinfo=SHANGHAI),
        datetime(2026, 9, 23, 13, 37, tzinfo=SHANGHAI),  # 中秋节 on Friday the 25th
        datetime(2026, 9, 28, tzinfo=SHANGHAI),  # 国庆节 on Thursday 1 October
        datetime(2026, 12, 28, 7, 52, tzinfo=SHANGHAI),  # 元旦, and the New Year's Eve override
    ],
)
def test_demo_roster_covers_every_route_all_week(start: datetime) -> None:
    assert coverage_gaps(load_roster(DEMO_FILE, "CN"), start, start + timedelta(days=7)) == []


def test_coverage_gaps_refuses_a_step_that_never_advances() -> None:
    with pytest.raises(ValueError, match="step"):
        coverage_gaps(make_roster(), at(0), at(1), timedelta(0))


# --- the demo roster -----------------------------------------------------------------------------


def test_demo_roster_has_what_it_demonstrates() -> None:
    roster = load_roster(DEMO_FILE, "CN")
    assert set(roster.routes) == set(ROUTE_KEYS)
    assert all(len(tiers) >= 2 for tiers in roster.routes.values())
    assert [t.team for t in roster.routes["disaster"]][:2] == ["police_command", "fire_brigade"]
    assert [o.code for o in roster.officers.values() if not o.available] == ["P006"]
    assert any(s.holidays == "only" for s in roster.shifts)
    assert roster.overrides and roster.holidays
    assert all(o.phone.startswith("+861380599") for o in roster.officers.values())
    for team in roster.teams:
        assert 3 <= sum(o.team == team for o in roster.officers.values()) <= 6
    # 国庆节 (a Thursday): the weekday pair stays home, the holiday-only officer comes in.
    national_day = datetime(2026, 10, 1, 12, tzinfo=SHANGHAI)
    assert codes(on_duty(roster, "police_command", national_day)) == ["P005"]
    # New Year's Eve: the override adds P004 to Thursday's night officer.
    eve = datetime(2026, 12, 31, 23, tzinfo=SHANGHAI)
    assert codes(on_duty(roster, "police_command", eve)) == ["P003", "P004"]
    steps = plan(roster, "desk", datetime(2026, 3, 2, 9, tzinfo=SHANGHAI), LAST_RESORT)
    assert [s.numbers[0][1] for s in steps] == ["D001", "D002", "C001", "last-resort"]


# --- DST -----------------------------------------------------------------------------------------


def new_york_demo() -> Roster:
    doc = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    doc["timezone"] = "America/New_York"
    return parse_roster(doc, "CN")


def test_spring_forward_night_in_new_york() -> None:
    roster = new_york_demo()
    # Sunday 8 March 2026: 02:00 EST jumps to 03:00 EDT. Saturday's night shift (P004) runs
    # 20:00 EST to 08:00 EDT: 11 real hours.
    night = next(s for s in roster.shifts if s.officer == "P004")
    begin, end = shift_window(night, date(2026, 3, 7), NEW_YORK)
    assert end - begin == timedelta(hours=11)
    before_jump = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # 01:59 EST
    after_jump = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    for moment in (before_jump, after_jump):
        assert codes(on_duty(roster, "police_command", moment)) == ["P004"]
    # 02:30 doesn't exist that night; zoneinfo reads it with the offset before the change.
    missing = datetime(2026, 3, 8, 2, 30, tzinfo=NEW_YORK)
    assert plan(roster, "police", missing, None)[0].numbers[0][1] == "P004"
    morning = datetime(2026, 3, 8, 8, tzinfo=NEW_YORK)
    assert morning.utcoffset() == timedelta(hours=-4)
    assert codes(on_duty(roster, "police_command", morning)) == ["P005"]
    assert codes(on_duty(roster, "police_command", morning - timedelta(minutes=1))) == ["P004"]
    start = datetime(2026, 3, 5, tzinfo=NEW_YORK)
    assert coverage_gaps(roster, start, start + timedelta(days=7)) == []


def test_fall_back_night_in_new_york() -> None:
    roster = new_york_demo()
    # Sunday 1 November 2026: 02:00 EDT falls back to 01:00 EST; Saturday's night lasts 13 hours.
    night = next(s for s in roster.shifts if s.officer == "P004")
    begin, end = shift_window(night, date(2026, 10, 31), NEW_YORK)
    assert end - begin == timedelta(hours=13)
    for fold in (0, 1):  # both 01:30s
        moment = datetime(2026, 11, 1, 1, 30, fold=fold, tzinfo=NEW_YORK)
        assert codes(on_duty(roster, "police_command", moment)) == ["P004"]
    start = datetime(2026, 10, 29, tzinfo=NEW_YORK)
    assert coverage_gaps(roster, start, start + timedelta(days=7)) == []


def test_a_shift_inside_the_missing_hour_covers_nothing() -> None:
    doc = base_doc()
    doc["timezone"] = "America/New_York"
    doc["shifts"] = [shift(["A1"], ["sun"], "02:00", "03:00")]
    roster = parse_roster(doc, "CN")
    begin, end = shift_window(roster.shifts[0], date(2026, 3, 8), NEW_YORK)
    assert begin == end
    assert not on_duty(roster, "alpha", datetime(2026, 3, 8, 7, 0, tzinfo=UTC))
    assert codes(on_duty(roster, "alpha", datetime(2026, 3, 15, 2, 30, tzinfo=NEW_YORK))) == ["A1"]


# --- the file ------------------------------------------------------------------------------------


def test_round_trip_of_the_demo_roster() -> None:
    roster = load_roster(DEMO_FILE, "CN")
    exported = roster_to_dict(roster)
    assert parse_roster(exported, "CN") == roster
    # Through YAML too: what the export writes survives YAML 1.1's readings of times and dates.
    assert (
        parse_roster(yaml.safe_load(yaml.safe_dump(exported, allow_unicode=True)), "CN") == roster
    )
    assert exported["officers"][0]["phone"] == "+8613805990101"
    assert exported["shifts"][0]["officers"] == ["P001", "P002"]
    assert exported["shifts"][0]["start"] == "08:00"
    assert exported["overrides"][0]["start"] == "2026-12-31 20:00"


def test_round_trip_keeps_the_second_of_two_ambiguous_hours() -> None:
    doc = base_doc()
    doc["timezone"] = "America/New_York"
    doc["overrides"] = [
        {"officer": "A1", "start": "2026-11-01T01:30-05:00", "end": "2026-11-01 03:00",
         "on_duty": True},
    ]  # fmt: skip
    roster = parse_roster(doc, "CN")
    # Stored in UTC: zoned datetimes compare by wall clock, which can't tell the two 01:30s apart.
    assert roster.overrides[0].start == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert roster.overrides[0].end == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    exported = roster_to_dict(roster)
    assert exported["overrides"][0]["start"] == "2026-11-01 01:30-05:00"
    assert exported["overrides"][0]["end"] == "2026-11-01 03:00"
    assert parse_roster(exported, "CN") == roster
    for fold, working in ((0, []), (1, ["A1"])):
        moment = datetime(2026, 11, 1, 1, 30, fold=fold, tzinfo=NEW_YORK)
        assert codes(on_duty(roster, "alpha", moment)) == working


def test_yaml_readings_of_numbers_times_and_dates_are_accepted(tmp_path: Path) -> None:
    doc = yaml.safe_dump(base_doc(), allow_unicode=True)
    doc = doc.replace("'13805990001'", "13805990001").replace("'13805990002'", "+8613805990002")
    doc += (
        "shifts:\n"
        "  - {officers: [A1], days: daily, start: 20:00, end: 8:30}\n"
        "holidays:\n"
        "  - {date: 2026-10-01, name: 国庆节}\n"
    )
    raw = yaml.safe_load(doc.replace("shifts: []\n", ""))
    assert raw["officers"][0]["phone"] == 13805990001  # what YAML made of them
    assert raw["shifts"][0]["start"] == 1200
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    roster = load_roster(path, "CN")
    assert roster.officers["A1"].phone == "+8613805990001"
    assert roster.officers["A2"].phone == "+8613805990002"
    assert roster.shifts[0] == Shift("A1", frozenset(range(7)), time(20, 0), time(8, 30))
    assert roster.holidays == {date(2026, 10, 1): "国庆节"}


def test_load_roster_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("timezone: Asia/Shanghai\nteams: [\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"roster\.yaml: not valid YAML"):
        load_roster(path, "CN")
    doc = base_doc()
    doc["timezone"] = "Mars/Base"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(RosterError) as error:
        load_roster(path, "CN")
    assert str(error.value) == f"{path}: timezone: unknown IANA timezone 'Mars/Base'"


Mutation = Callable[[dict[str, Any]], object]


def add_shifts(*shifts: dict[str, Any]) -> Mutation:
    return lambda d: d["shifts"].extend(shifts)


def add_override(**fields: Any) -> Mutation:
    entry = {"officer": "A1", "start": "2026-03-03 10:00", "end": "2026-03-03 12:00"}
    return lambda d: d.update(overrides=[entry | {"on_duty": True} | fields])


def update(section: str, index: int | str, **fields: Any) -> Mutation:
    return lambda d: d[section][index].update(fields)


def update_tier(route: str, index: int, **fields: Any) -> Mutation:
    return lambda d: d["routing"][route][index].update(fields)


DAY = ("daily", "08:00", "20:00")
INVALID: list[tuple[str, Mutation, str]] = [
    (
        "unknown timezone",
        lambda d: d.update(timezone="Mars/Base"),
        "timezone: unknown IANA timezone 'Mars/Base'",
    ),
    (
        "timezone directory",
        lambda d: d.update(timezone="America"),
        "timezone: unknown IANA timezone 'America'",
    ),
    ("unknown section", lambda d: d.update(rosters=[]), "roster: unknown field 'rosters'"),
    (
        "duplicate team",
        lambda d: d["teams"].append({"code": "alpha", "name": {"zh": "甲"}}),
        "teams[2] (alpha): code: duplicate of teams[0]",
    ),
    ("team without a name", lambda d: d["teams"][1].pop("name"), "teams[1] (beta): name: missing"),
    (
        "officer's unknown team",
        update("officers", 0, team="gamma"),
        "officers[0] (A1 甲一): team: unknown team 'gamma'",
    ),
    (
        "duplicate officer",
        update("officers", 1, code="A1"),
        "officers[1] (A1 甲二): code: duplicate of officers[0] (A1 甲一)",
    ),
    (
        "invalid phone",
        update("officers", 1, phone="12345"),
        "officers[1] (A2 甲二): phone: not a valid phone number: '12345'",
    ),
    (
        "duplicate phone",
        update("officers", 1, phone="+8613805990001"),
        "officers[1] (A2 甲二): phone: +8613805990001 is also the number of officers[0] (A1 甲一)",
    ),
    (
        "misspelt field",
        update("officers", 0, availble=False),
        "officers[0] (A1 甲一): unknown field 'availble'",
    ),
    (
        "available as text",
        update("officers", 0, available="no"),
        "officers[0] (A1 甲一): available: must be true or false, got 'no'",
    ),
    (
        "code read as a boolean",
        update("officers", 0, code=False),
        "officers[0]: code: must be text, got False (quote it",
    ),
    (
        "reserved code",
        update("officers", 0, code="last-resort"),
        "officers[0]: code: must be up to 32 letters",
    ),
    (
        "shift's unknown officer",
        add_shifts(shift(["A1", "Z9"], *DAY)),
        "shifts[0].officers[1]: unknown officer 'Z9'",
    ),
    ("shift without officers", add_shifts(shift([], *DAY)), "shifts[0]: no officers"),
    (
        "officer twice in a shift",
        add_shifts(shift(["A1", "A1"], *DAY)),
        "shifts[0].officers[1]: 'A1' is listed twice",
    ),
    (
        "bad time",
        add_shifts(shift(["A1"], "daily", "25:00", "20:00")),
        "shifts[0].start: not a time of day 'HH:MM' (00:00 to 23:59): '25:00'",
    ),
    (
        "bare number as a time",
        add_shifts(shift(["A1"], "daily", 8, "20:00")),  # type: ignore[arg-type]
        "shifts[0].start: not a time of day 'HH:MM' (00:00 to 23:59): 8",
    ),
    (
        "bad day",
        add_shifts(shift(["A1"], ["mon", "funday"], "08:00", "20:00")),
        "shifts[0].days: unknown day 'funday'",
    ),
    ("no days", add_shifts(shift(["A1"], [], "08:00", "20:00")), "shifts[0].days: no days"),
    (
        "bad holiday rule",
        add_shifts(shift(["A1"], *DAY, holidays="sometimes")),
        "shifts[0].holidays: must be include, exclude or only, got 'sometimes'",
    ),
    (
        "overlapping shifts",
        add_shifts(
            shift(["A2"], "daily", "20:00", "08:00"),
            shift(["A1"], "weekdays", "08:00", "20:00"),
            shift(["A2", "A1"], ["wed"], "12:00", "14:00"),
        ),
        "shifts[2]: A1's shift overlaps shifts[1] (both cover wed 12:00)",
    ),
    (
        "overlap across the end of the week",
        add_shifts(
            shift(["A1"], ["sun"], "20:00", "08:00"), shift(["A1"], ["mon"], "07:00", "09:00")
        ),
        "shifts[1]: A1's shift overlaps shifts[0] (both cover mon 07:00)",
    ),
    (
        "overlap of include and only",
        add_shifts(shift(["A1"], *DAY), shift(["A1"], ["sat"], "18:00", "22:00", holidays="only")),
        "shifts[1]: A1's shift overlaps shifts[0] (both cover sat 18:00)",
    ),
    (
        "override's unknown officer",
        add_override(officer="Z9"),
        "overrides[0].officer: unknown officer 'Z9'",
    ),
    (
        "override ending as it starts",
        add_override(end="2026-03-03 10:00"),
        "overrides[0].end: must be after start",
    ),
    (
        "override with a bad time",
        add_override(start="tomorrow"),
        "overrides[0].start: not a date and time 'YYYY-MM-DD HH:MM': 'tomorrow'",
    ),
    (
        "override without on_duty",
        add_override(on_duty=None),
        "overrides[0].on_duty: must be true or false, got None",
    ),
    (
        "bad holiday date",
        lambda d: d.update(holidays=[{"date": "2026-13-01", "name": "x"}]),
        "holidays[0].date: not a date 'YYYY-MM-DD': '2026-13-01'",
    ),
    (
        "holiday twice",
        lambda d: d.update(
            holidays=[
                {"date": "2026-10-01", "name": "国庆节"},
                {"date": date(2026, 10, 1), "name": "国庆"},
            ]
        ),
        "holidays[1].date: 2026-10-01 is listed twice",
    ),
    (
        "unknown route",
        lambda d: d["routing"].update(ambulance=d["routing"]["medical"]),
        "routing: unknown route 'ambulance' (known: police, fire, medical, traffic, disaster",
    ),
    ("route missing", lambda d: d["routing"].pop("fire"), "routing: no tiers for 'fire'"),
    ("route without tiers", lambda d: d["routing"].update(fire=[]), "routing.fire: no tiers"),
    (
        "tier's unknown team",
        update_tier("fire", 0, team="fire_brigad"),
        "routing.fire[0].team: unknown team 'fire_brigad'",
    ),
    (
        "tier's team has no officers",
        lambda d: (
            d["teams"].append({"code": "medical_liaison", "name": {"zh": "120急救联络"}}),
            d["routing"]["medical"][0].update(team="medical_liaison"),
        ),
        "routing.medical[0].team: team 'medical_liaison' has no officers",
    ),
    (
        "team twice in a route",
        lambda d: d["routing"]["fire"].append({"team": "alpha"}),
        "routing.fire[2].team: 'alpha' is already a tier of this route",
    ),
    (
        "bad strategy",
        update_tier("desk", 0, strategy="random"),
        "routing.desk[0].strategy: must be all or sequential, got 'random'",
    ),
    (
        "ring too short",
        update_tier("desk", 0, ring_seconds=3),
        "routing.desk[0].ring_seconds: must be whole seconds from 5 to 60, got 3",
    ),
    (
        "ring as a boolean",
        update_tier("desk", 0, ring_seconds=True),
        "routing.desk[0].ring_seconds: must be whole seconds from 5 to 60, got True",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [pytest.param(mutate, message, id=name) for name, mutate, message in INVALID],
)
def test_invalid_roster_is_refused_naming_entry_and_field(mutate: Mutation, message: str) -> None:
    doc = base_doc()
    mutate(doc)
    with pytest.raises(RosterError) as error:
        parse_roster(doc, "CN")
    assert str(error.value).startswith(message), str(error.value)


def test_roster_must_be_a_mapping() -> None:
    with pytest.raises(RosterError, match=r"^roster: must be a mapping, got list$"):
        parse_roster([], "CN")
    with pytest.raises(RosterError, match=r"^roster: missing$"):
        parse_roster(None, "CN")


def test_shifts_that_only_touch_or_exclude_each_other_are_accepted() -> None:
    roster = make_roster(
        [
            shift(["A1"], "daily", "08:00", "20:00", holidays="exclude"),
            shift(["A1"], "daily", "08:00", "20:00", holidays="only"),
            shift(["A2"], ["sun"], "20:00", "08:00"),
            shift(["A2"], ["mon"], "08:00", "20:00"),  # starts as Sunday's night ends
            shift(["A3"], "daily", "08:00", "08:00"),  # 24 hours, back to back
        ]
    )
    assert len(roster.shifts) == 5


def test_parsed_roster_is_immutable() -> None:
    roster = make_roster()
    with pytest.raises(dataclasses.FrozenInstanceError):
        roster.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        roster.officers["Z9"] = roster.officers["A1"]  # type: ignore[index]
