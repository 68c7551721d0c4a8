"""The duty roster: who answers which emergency, when — pure, typed, immutable data.

No database and no Flask: a `Roster` is read from `config/roster.yaml` (`load_roster`, parsing
and validation live in `routing/rosterfile.py`), and the functions here answer "who is on duty"
(`on_duty`), "whom do we ring, in what order" (`plan`) and "when is nobody there"
(`coverage_gaps`).

The file format (see `config/roster.yaml` for a complete example)::

    timezone: Asia/Shanghai            # IANA name; every time in the file is wall-clock time here
    teams:
      - {code: police_command, name: {zh: 公安110指挥中心, en: Police command}}
    officers:                          # file order is the ringing priority
      - {code: P001, name: 张伟, team: police_command, phone: "13800000001"}
      # phone: national (for the hotline's region) or +E.164; quote it. Or a sip: URI.
      # available: false takes an officer off every shift and override (leave, sick).
    shifts:                            # weekly; one entry may list several officers
      - officers: [P001, P002]
        days: [mon, tue, wed, thu, fri]   # or daily | weekdays | weekends; the day a shift STARTS
        start: "08:00"
        end: "20:00"                      # end <= start: ends the next day (equal: 24 hours)
        holidays: include                 # include | exclude | only (the date the shift starts)
    overrides:                         # one-off, local time; on_duty: false beats everything
      - {officer: P003, start: "2026-12-31 20:00", end: "2027-01-01 08:00", on_duty: true,
         note: 跨年加班}
    holidays:
      - {date: 2026-10-01, name: 国庆节}
    routing:                           # every key of ROUTE_KEYS, each with ordered tiers
      fire:
        - {team: fire_brigade, strategy: all, ring_seconds: 20}    # all: ring them together
        - {team: police_command, strategy: all, ring_seconds: 15}
      desk:
        - {team: service_desk, strategy: sequential, ring_seconds: 15}  # one after another

An officer is on duty at a moment when a weekly shift or an on-duty override covers it, no
off-duty override covers it, and the officer is available. Times are compared as instants
(UTC), so shifts across a DST change last the real time between their wall-clock ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from config.files import ConfigFileError
from core.categories import CATEGORIES

Strategy = Literal["all", "sequential"]
HolidayRule = Literal["include", "exclude", "only"]

#: The emergency categories (core.categories), plus `desk` (the service desk).
ROUTE_KEYS: tuple[str, ...] = (*CATEGORIES.emergency, "desk")
#: Where a call for a route the roster doesn't know goes: police take any emergency.
FALLBACK_ROUTE = "police"
#: Twilio rings at most 10 numbers in one <Dial>.
MAX_PER_DIAL = 10
#: The officer code `plan` puts beside the last-resort number.
LAST_RESORT = "last-resort"


class RosterError(ConfigFileError):
    """The roster is invalid; the message names the entry and field."""


@dataclass(frozen=True)
class Team:
    """A unit officers belong to; routes ring teams."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Officer:
    """A person who can be rung."""

    code: str
    name: str
    team: str
    phone: str  # E.164, or a sip: URI
    available: bool = True


@dataclass(frozen=True)
class Shift:
    """A weekly shift of one officer, in wall-clock time of the roster's timezone."""

    officer: str
    days: frozenset[int]  # 0 = Monday … 6 = Sunday: the day the shift STARTS
    start: time
    end: time  # end <= start: ends the next day (end == start: 24 hours)
    holidays: HolidayRule = "include"


@dataclass(frozen=True)
class Override:
    """A one-off change: on duty outside the shifts, or off duty (which beats everything)."""

    officer: str
    start: datetime  # aware (UTC when read from the file)
    end: datetime  # aware
    on_duty: bool
    note: str = ""


@dataclass(frozen=True)
class Tier:
    """One step of a route: ring the on-duty officers of a team."""

    team: str
    strategy: Strategy
    ring_seconds: int


@dataclass(frozen=True)
class Roster:
    """Teams, officers, when they work, and which teams each kind of call rings."""

    timezone: str
    teams: Mapping[str, Team]  # by code, in file order
    officers: Mapping[str, Officer]  # by code, in file order (the ringing priority)
    shifts: tuple[Shift, ...]
    overrides: tuple[Override, ...]
    holidays: Mapping[date, str]
    routes: Mapping[str, tuple[Tier, ...]]  # route key -> ordered tiers


@dataclass(frozen=True)
class DialStep:
    """One <Dial>: these numbers ring together for `ring_seconds`."""

    tier: int  # index in the route, or -1 for the last resort
    numbers: tuple[tuple[str, str], ...]  # (E.164 or sip: URI, officer code or "last-resort")
    ring_seconds: int


@dataclass(frozen=True)
class Gap:
    """A period when nobody in any tier of a route is on duty."""

    route: str
    start: datetime
    end: datetime


def on_duty(roster: Roster, team: str, at: datetime) -> list[Officer]:
    """The officers of `team` on duty at the aware datetime `at`, in roster (file) order."""
    if team not in roster.teams:
        raise KeyError(team)
    moment = _utc(at, "at")
    tz = ZoneInfo(roster.timezone)
    today = moment.astimezone(tz).date()
    members = {o.code for o in roster.officers.values() if o.team == team and o.available}
    working = {
        s.officer
        for s in roster.shifts
        if s.officer in members and _shift_covers(s, moment, today, tz, roster.holidays)
    }
    off: set[str] = set()
    for override in roster.overrides:
        if override.officer in members and _utc(override.start) <= moment < _utc(override.end):
            (working if override.on_duty else off).add(override.officer)
    working -= off  # off beats on: leave or sickness must never be overridden by a shift
    return [o for o in roster.officers.values() if o.code in working]


def plan(
    roster: Roster,
    route: str,
    at: datetime,
    last_resort: str | None,
    last_resort_ring_seconds: int = 30,
) -> tuple[DialStep, ...]:
    """The <Dial> steps for a call on `route` at `at`, ending with the last resort if given.

    A route the roster doesn't know (or without tiers) falls back to `police`: any emergency is
    better rung at the police than nowhere. For each tier in order: `all` rings the team's
    on-duty officers together in one step — when more than MAX_PER_DIAL are on duty, the first
    ten in roster (file) order, since file order is the ringing priority; `sequential` rings
    them one step each. A tier with nobody on duty gives no step, a tier whose team the roster
    doesn't know is skipped rather than failing a live call, and a number is never rung twice
    in one plan.
    """
    tiers = roster.routes.get(route) or roster.routes.get(FALLBACK_ROUTE, ())
    rung: set[str] = set()
    steps: list[DialStep] = []
    for index, tier in enumerate(tiers):
        if tier.team not in roster.teams:
            continue
        fresh: list[Officer] = []
        for officer in on_duty(roster, tier.team, at):
            if officer.phone not in rung and all(o.phone != officer.phone for o in fresh):
                fresh.append(officer)
        groups = [fresh[:MAX_PER_DIAL]] if tier.strategy == "all" else [[o] for o in fresh]
        for group in groups:
            if group:
                numbers = tuple((o.phone, o.code) for o in group)
                steps.append(DialStep(index, numbers, tier.ring_seconds))
                rung.update(o.phone for o in group)
    if last_resort and last_resort not in rung:
        steps.append(DialStep(-1, ((last_resort, LAST_RESORT),), last_resort_ring_seconds))
    return tuple(steps)


def coverage_gaps(
    roster: Roster, start: datetime, end: datetime, step: timedelta = timedelta(minutes=15)
) -> list[Gap]:
    """Periods in [start, end) when a route has nobody on duty in any tier, per route key.

    The roster is sampled every `step` (a gap shorter than `step` may go unseen); consecutive
    empty samples merge into one Gap, reported in the roster's timezone.
    """
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    tz = ZoneInfo(roster.timezone)
    begin, finish = _utc(start, "start"), _utc(end, "end")
    samples: list[datetime] = []
    moment = begin
    while moment < finish:  # stepped in UTC: local arithmetic would skip or repeat DST hours
        samples.append(moment)
        moment += step
    staffed: dict[tuple[str, datetime], bool] = {}  # routes share teams: ask each team once

    def covered(route: str, at: datetime) -> bool:
        for tier in roster.routes.get(route, ()):
            if (tier.team, at) not in staffed:
                staffed[tier.team, at] = tier.team in roster.teams and bool(
                    on_duty(roster, tier.team, at)
                )
            if staffed[tier.team, at]:
                return True
        return False

    gaps: list[Gap] = []
    for route in ROUTE_KEYS:
        opened: datetime | None = None
        for at in samples:
            if not covered(route, at):
                opened = opened or at
            elif opened is not None:
                gaps.append(Gap(route, opened.astimezone(tz), at.astimezone(tz)))
                opened = None
        if opened is not None:
            gaps.append(Gap(route, opened.astimezone(tz), finish.astimezone(tz)))
    return gaps


def shift_window(shift: Shift, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants (UTC) a shift starting on `day` begins and ends, DST included."""
    # Local datetimes built with the zone resolve the offset of that date; a wall-clock time
    # that doesn't exist (spring forward) takes the offset before the change, as zoneinfo does.
    end_day = day if shift.end > shift.start else day + timedelta(days=1)
    begin = datetime.combine(day, shift.start, tzinfo=tz)
    finish = datetime.combine(end_day, shift.end, tzinfo=tz)
    return begin.astimezone(UTC), finish.astimezone(UTC)


def _shift_covers(
    shift: Shift, moment: datetime, today: date, tz: tzinfo, holidays: Mapping[date, str]
) -> bool:
    """Does `shift` cover the UTC instant `moment`, whose local date is `today`?"""
    # A shift lasts at most a day, so only one starting today or yesterday can cover `moment`.
    for day in (today, today - timedelta(days=1)):
        if day.weekday() not in shift.days or not _works(shift.holidays, day in holidays):
            continue
        begin, finish = shift_window(shift, day, tz)
        if begin <= moment < finish:
            return True
    return False


def _works(rule: HolidayRule, holiday: bool) -> bool:
    """Does a shift with this holiday rule run on a day that is (or isn't) a holiday?"""
    if rule == "exclude":
        return not holiday
    if rule == "only":
        return holiday
    return True


def _utc(value: datetime, name: str = "datetime") -> datetime:
    """`value` in UTC; naive datetimes are refused (whose wall clock would they be?)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    # Aware datetimes sharing a tzinfo compare by wall clock, ignoring DST folds: compare in UTC.
    return value.astimezone(UTC)
