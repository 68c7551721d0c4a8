"""The roster written back in its file format (`hotline roster export`, the console's editor, the
roster cache): `roster_to_dict(parse_roster(raw))` reads back equal to the roster it came from."""

from __future__ import annotations

from datetime import datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from routing.roster import Roster
from routing.rosterfile import DAY_NAMES, DAY_SETS


def roster_to_dict(roster: Roster) -> dict[str, Any]:
    """The roster as plain data in the file format; `parse_roster` reads it back equal."""
    tz = ZoneInfo(roster.timezone)
    officers: list[dict[str, Any]] = []
    for o in roster.officers.values():
        entry: dict[str, Any] = {"code": o.code, "name": o.name, "team": o.team, "phone": o.phone}
        if not o.available:
            entry["available"] = False
        officers.append(entry)
    shifts: list[dict[str, Any]] = []
    for s in roster.shifts:
        last = shifts[-1] if shifts else None
        same = (_format_days(s.days), _hhmm(s.start), _hhmm(s.end), s.holidays)
        # Consecutive shifts alike (one entry listing several officers) are written as one entry.
        if (
            last
            and (last["days"], last["start"], last["end"], last["holidays"]) == same
            and s.officer not in last["officers"]
        ):
            last["officers"].append(s.officer)
            continue
        days, start, end, rule = same
        shifts.append(
            {"officers": [s.officer], "days": days, "start": start, "end": end, "holidays": rule}
        )
    overrides: list[dict[str, Any]] = []
    for v in roster.overrides:
        entry = {"officer": v.officer, "start": _format_moment(v.start, tz)}
        entry |= {"end": _format_moment(v.end, tz), "on_duty": v.on_duty}
        if v.note:
            entry["note"] = v.note
        overrides.append(entry)
    return {
        "timezone": roster.timezone,
        "teams": [
            {"code": t.code, "name": {"zh": t.name_zh, "en": t.name_en}}
            for t in roster.teams.values()
        ],
        "officers": officers,
        "shifts": shifts,
        "overrides": overrides,
        "holidays": [{"date": d.isoformat(), "name": n} for d, n in roster.holidays.items()],
        "routing": {
            key: [
                {"team": t.team, "strategy": t.strategy, "ring_seconds": t.ring_seconds}
                for t in tiers
            ]
            for key, tiers in roster.routes.items()
        },
    }


def _format_days(days: frozenset[int]) -> str | list[str]:
    for name, members in DAY_SETS.items():
        if days == members:
            return name
    return [DAY_NAMES[d] for d in sorted(days)]


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _format_moment(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    spec = "seconds" if local.second or local.microsecond else "minutes"
    if local.fold:
        # The second occurrence of an ambiguous local time: only the offset says which.
        return local.isoformat(sep=" ", timespec=spec)
    return local.replace(tzinfo=None).isoformat(sep=" ", timespec=spec)
