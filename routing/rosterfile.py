"""Reading the duty roster file (format: see `routing.roster` and config/roster.yaml).

Validation fails on the first problem with a `RosterError` naming the entry and field, e.g.
"officers[3] (P017 王芳): phone: not a valid phone number: '12345'". YAML 1.1 quirks are handled:
unquoted phone numbers arrive as ints, unquoted `20:00` as the base-60 int 1200, dates as
`date` objects; `yes`/`no`/`on`/`off` become booleans, so a code or name spelled that way is
refused with a hint to quote it rather than silently renamed.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.files import (
    load_config_file,
    reject_unknown_fields,
    require_list,
    require_mapping,
    require_string,
)
from config.settings import is_sip_uri
from core.phone import InvalidPhoneNumber, to_e164
from routing.roster import (
    LAST_RESORT,
    ROUTE_KEYS,
    HolidayRule,
    Officer,
    Override,
    Roster,
    RosterError,
    Shift,
    Strategy,
    Team,
    Tier,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_SETS = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_DAY, _WEEK = 24 * 60, 7 * 24 * 60  # minutes
_SECTIONS = ("timezone", "teams", "officers", "shifts", "overrides", "holidays", "routing")


def parse_roster(raw: Any, region: str) -> Roster:
    """Validate a roster given as plain data (what YAML gives); national numbers for `region`."""
    doc = _mapping(raw, "roster")
    _known_fields(doc, _SECTIONS, "roster")
    timezone = _text(doc.get("timezone"), "timezone")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RosterError(f"timezone: unknown IANA timezone {timezone!r}") from None
    teams = _teams(doc.get("teams"))
    officers = _officers(doc.get("officers"), teams, region)
    shifts = _shifts(doc.get("shifts"), officers)
    # Optional sections: absent or left empty (`holidays:` with nothing under it) mean none.
    overrides = _overrides(doc.get("overrides") or [], officers, tz)
    holidays = _holidays(doc.get("holidays") or [])
    routes = _routes(doc.get("routing"), teams, officers)
    return Roster(
        timezone=timezone,
        teams=MappingProxyType(teams),
        officers=MappingProxyType(officers),
        shifts=shifts,
        overrides=overrides,
        holidays=MappingProxyType(holidays),
        routes=MappingProxyType(routes),
    )


def _teams(raw: Any) -> dict[str, Team]:
    teams: dict[str, Team] = {}
    index: dict[str, int] = {}
    for i, entry in enumerate(_list(raw, "teams")):
        spec = _mapping(entry, f"teams[{i}]")
        code = _code(spec.get("code"), f"teams[{i}]: code")
        label = f"teams[{i}] ({code})"
        _known_fields(spec, ("code", "name"), label)
        if code in teams:
            raise RosterError(f"{label}: code: duplicate of teams[{index[code]}]")
        name = _mapping(spec.get("name"), f"{label}: name")
        _known_fields(name, ("zh", "en"), f"{label}: name")
        name_zh = _text(name.get("zh"), f"{label}: name.zh")
        name_en = _text(name["en"], f"{label}: name.en") if "en" in name else name_zh
        teams[code], index[code] = Team(code, name_zh, name_en), i
    if not teams:
        raise RosterError("teams: at least one team is required")
    return teams


def _officers(raw: Any, teams: Mapping[str, Team], region: str) -> dict[str, Officer]:
    officers: dict[str, Officer] = {}
    labels: dict[str, str] = {}  # code and phone -> the entry's label, for duplicate messages
    for i, entry in enumerate(_list(raw, "officers")):
        spec = _mapping(entry, f"officers[{i}]")
        code = _code(spec.get("code"), f"officers[{i}]: code")
        name = _text(spec.get("name"), f"officers[{i}] ({code}): name")
        label = f"officers[{i}] ({code} {name})"
        _known_fields(spec, ("code", "name", "team", "phone", "available"), label)
        if code in officers:
            raise RosterError(f"{label}: code: duplicate of {labels[code]}")
        team = _text(spec.get("team"), f"{label}: team")
        if team not in teams:
            raise RosterError(f"{label}: team: unknown team {team!r}")
        phone_raw = spec.get("phone")
        if isinstance(phone_raw, int) and not isinstance(phone_raw, bool):
            phone_raw = str(phone_raw)  # an unquoted number: YAML made it an int
        phone = _address(_text(phone_raw, f"{label}: phone"), region, f"{label}: phone")
        if phone in labels:
            raise RosterError(f"{label}: phone: {phone} is also the number of {labels[phone]}")
        available = spec.get("available", True)
        if not isinstance(available, bool):
            raise RosterError(f"{label}: available: must be true or false, got {available!r}")
        officers[code] = Officer(code, name, team, phone, available)
        labels[code] = labels[phone] = label
    return officers


def _address(text: str, region: str, where: str) -> str:
    """Where an officer is rung: a SIP URI (a local carrier's gateway) as written, else E.164."""
    if text.lower().startswith(("sip:", "sips:")):
        if not is_sip_uri(text):
            raise RosterError(f"{where}: not a SIP URI Twilio can dial (sip:user@host): {text!r}")
        return text
    try:
        return to_e164(text, region)
    except InvalidPhoneNumber as exc:
        raise RosterError(f"{where}: {exc}") from None


def _shifts(raw: Any, officers: Mapping[str, Officer]) -> tuple[Shift, ...]:
    fields = ("officers", "days", "start", "end", "holidays")
    entries: list[tuple[int, Shift]] = []
    for i, entry in enumerate(_list(raw, "shifts")):
        where = f"shifts[{i}]"
        spec = _mapping(entry, where)
        _known_fields(spec, fields, where)
        codes = spec.get("officers")
        if not isinstance(codes, list):
            raise RosterError(f"{where}.officers: must be a list of officer codes")
        if not codes:
            raise RosterError(f"{where}: no officers")
        days = _days(spec.get("days"), f"{where}.days")
        start = _time(spec.get("start"), f"{where}.start")
        end = _time(spec.get("end"), f"{where}.end")
        rule = spec.get("holidays", "include")
        if rule not in get_args(HolidayRule):
            raise RosterError(f"{where}.holidays: must be include, exclude or only, got {rule!r}")
        seen: set[str] = set()
        for j, code in enumerate(codes):
            code = _text(code, f"{where}.officers[{j}]")
            if code not in officers:
                raise RosterError(f"{where}.officers[{j}]: unknown officer {code!r}")
            if code in seen:
                raise RosterError(f"{where}.officers[{j}]: {code!r} is listed twice")
            seen.add(code)
            entries.append((i, Shift(code, days, start, end, rule)))
    _check_overlaps(entries)
    return tuple(shift for _, shift in entries)


def _check_overlaps(entries: list[tuple[int, Shift]]) -> None:
    """Refuse two shifts of one officer that can cover the same moment of a week."""
    by_officer: dict[str, list[tuple[int, Shift]]] = {}
    for i, shift in entries:
        by_officer.setdefault(shift.officer, []).append((i, shift))
    for officer, items in by_officer.items():
        for (i, a), (j, b) in itertools.combinations(items, 2):
            clash = _first_clash(a, b)
            if clash is not None:
                day, minute = divmod(clash, _DAY)
                raise RosterError(
                    f"shifts[{j}]: {officer}'s shift overlaps shifts[{i}] (both cover "
                    f"{DAY_NAMES[day]} {minute // 60:02d}:{minute % 60:02d})"
                )


def _first_clash(a: Shift, b: Shift) -> int | None:
    """The first minute of the week (from Monday 00:00) both shifts cover, if any."""
    clashes: list[int] = []
    for da, db in itertools.product(sorted(a.days), sorted(b.days)):
        # Started the same day, `exclude` and `only` never both run; on different days they can
        # (one day a holiday, the other not), so those count as overlapping.
        if da == db and {a.holidays, b.holidays} == {"exclude", "only"}:
            continue
        a0, a1 = _week_span(a, da)
        b0, b1 = _week_span(b, db)
        for shift in (-_WEEK, 0, _WEEK):  # Sunday night runs into next Monday
            low, high = max(a0, b0 + shift), min(a1, b1 + shift)
            if low < high:
                clashes.append(low % _WEEK)
    return min(clashes, default=None)


def _week_span(shift: Shift, day: int) -> tuple[int, int]:
    start = day * _DAY + shift.start.hour * 60 + shift.start.minute
    length = (shift.end.hour * 60 + shift.end.minute - start) % _DAY or _DAY
    return start, start + length


def _overrides(raw: Any, officers: Mapping[str, Officer], tz: tzinfo) -> tuple[Override, ...]:
    overrides: list[Override] = []
    for i, entry in enumerate(_list(raw, "overrides")):
        where = f"overrides[{i}]"
        spec = _mapping(entry, where)
        _known_fields(spec, ("officer", "start", "end", "on_duty", "note"), where)
        officer = _text(spec.get("officer"), f"{where}.officer")
        if officer not in officers:
            raise RosterError(f"{where}.officer: unknown officer {officer!r}")
        start = _moment(spec.get("start"), tz, f"{where}.start")
        end = _moment(spec.get("end"), tz, f"{where}.end")
        if end <= start:
            raise RosterError(f"{where}.end: must be after start")
        on_duty = spec.get("on_duty")
        if not isinstance(on_duty, bool):
            raise RosterError(f"{where}.on_duty: must be true or false, got {on_duty!r}")
        note = spec.get("note", "")
        if not isinstance(note, str):
            raise RosterError(f"{where}.note: must be text, got {type(note).__name__}")
        overrides.append(Override(officer, start, end, on_duty, note))
    return tuple(overrides)


def _holidays(raw: Any) -> dict[date, str]:
    holidays: dict[date, str] = {}
    for i, entry in enumerate(_list(raw, "holidays")):
        where = f"holidays[{i}]"
        spec = _mapping(entry, where)
        _known_fields(spec, ("date", "name"), where)
        value = spec.get("date")
        try:  # unquoted, YAML gives a date; quoted, text
            day = date.fromisoformat(value) if isinstance(value, str) else value
        except ValueError:
            day = None
        if not isinstance(day, date) or isinstance(day, datetime):
            raise RosterError(f"{where}.date: not a date 'YYYY-MM-DD': {value!r}")
        if day in holidays:
            raise RosterError(f"{where}.date: {day} is listed twice")
        holidays[day] = _text(spec.get("name"), f"{where}.name")
    return holidays


def _routes(
    raw: Any, teams: Mapping[str, Team], officers: Mapping[str, Officer]
) -> dict[str, tuple[Tier, ...]]:
    doc = _mapping(raw, "routing")
    for key in doc:
        if key not in ROUTE_KEYS:
            raise RosterError(f"routing: unknown route {key!r} (known: {', '.join(ROUTE_KEYS)})")
    staffed = {o.team for o in officers.values()}
    routes: dict[str, tuple[Tier, ...]] = {}
    for key in ROUTE_KEYS:
        if key not in doc:
            raise RosterError(f"routing: no tiers for {key!r}")
        entries = doc[key]
        if not isinstance(entries, list):
            raise RosterError(f"routing.{key}: must be a list of tiers")
        if not entries:
            raise RosterError(f"routing.{key}: no tiers")
        tiers: list[Tier] = []
        for j, entry in enumerate(entries):
            where = f"routing.{key}[{j}]"
            spec = _mapping(entry, where)
            _known_fields(spec, ("team", "strategy", "ring_seconds"), where)
            team = _text(spec.get("team"), f"{where}.team")
            if team not in teams:
                raise RosterError(f"{where}.team: unknown team {team!r}")
            if team not in staffed:
                raise RosterError(f"{where}.team: team {team!r} has no officers")
            if any(t.team == team for t in tiers):
                # Its numbers were rung in the earlier tier, and a plan never rings one twice.
                raise RosterError(f"{where}.team: {team!r} is already a tier of this route")
            strategy = spec.get("strategy", "all")
            if strategy not in get_args(Strategy):
                raise RosterError(f"{where}.strategy: must be all or sequential, got {strategy!r}")
            seconds = spec.get("ring_seconds", 20)
            if not isinstance(seconds, int) or isinstance(seconds, bool) or not 5 <= seconds <= 60:
                raise RosterError(
                    f"{where}.ring_seconds: must be whole seconds from 5 to 60, got {seconds!r}"
                )
            tiers.append(Tier(team, strategy, seconds))
        routes[key] = tuple(tiers)
    return routes


def _days(value: Any, where: str) -> frozenset[int]:
    if isinstance(value, str) and value.strip().lower() in DAY_SETS:
        return DAY_SETS[value.strip().lower()]
    names = value if isinstance(value, list) else [value]
    if not names or value is None:
        raise RosterError(f"{where}: no days (a list of mon … sun, or daily, weekdays, weekends)")
    days: set[int] = set()
    for name in names:
        key = name.strip().lower() if isinstance(name, str) else name
        if key in DAY_NAMES:
            days.add(DAY_NAMES.index(key))
        elif key in _FULL_DAY_NAMES:
            days.add(_FULL_DAY_NAMES.index(key))
        else:
            raise RosterError(
                f"{where}: unknown day {name!r} (mon … sun, daily, weekdays, weekends)"
            )
    return frozenset(days)


def _time(value: Any, where: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < _DAY:
        # YAML 1.1 reads an unquoted 20:00 as base 60 (1200); no other int can come from HH:MM.
        return time(*divmod(value, 60))
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise RosterError(f"{where}: not a time of day 'HH:MM' (00:00 to 23:59): {value!r}")
    return time(int(match[1]), int(match[2]))


def _moment(value: Any, tz: tzinfo, where: str) -> datetime:
    """A date and time in the roster's timezone (ISO text, or what YAML makes of it), in UTC."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())  # a bare date: from midnight
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value.strip())
    if moment is None:
        raise RosterError(f"{where}: not a date and time 'YYYY-MM-DD HH:MM': {value!r}")
    if moment.tzinfo is None:
        # Local time; an ambiguous one (DST fall back) is its first occurrence.
        moment = datetime.combine(moment.date(), moment.time(), tzinfo=tz)
    # Kept in UTC, like every stored time: datetimes in a zone compare by wall clock among
    # themselves and never equal another zone's during a repeated hour (PEP 495).
    return moment.astimezone(UTC)


def _known_fields(spec: Mapping[Any, Any], fields: tuple[str, ...], where: str) -> None:
    # A misspelt field ("availble: false") must not be silently ignored on an emergency roster.
    reject_unknown_fields(spec, fields, where, RosterError)


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    return require_mapping(value, where, RosterError)


def _list(value: Any, where: str) -> list[Any]:
    return require_list(value, where, RosterError)


def _text(value: Any, where: str) -> str:
    return require_string(value, where, RosterError)


def _code(value: Any, where: str) -> str:
    code = _text(value, where)
    if not _CODE.match(code) or code == LAST_RESORT:
        raise RosterError(
            f"{where}: must be up to 32 letters, digits, '_', '.' or '-', and not "
            f"{LAST_RESORT!r}: {code!r}"
        )
    return code


def load_roster(path: Path, region: str) -> Roster:
    """Read and validate the roster file at `path`."""
    return load_config_file(path, lambda raw: parse_roster(raw, region), RosterError)
