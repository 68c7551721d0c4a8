"""The roster in the database: replaced whole by an import, read back as a pure `Roster`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.db import insert_if_missing, utcnow
from routing import models as m
from routing.roster import Officer, Override, Roster, Shift, Team, Tier

_DAYS = 7


def replace_roster(session: Session, roster: Roster, timezone: str) -> int:
    """Store a validated roster as the new version, if it is in the hotline's timezone."""
    if roster.timezone != timezone:
        from routing.roster import RosterError

        raise RosterError(f"timezone: {roster.timezone!r} differs from TIMEZONE={timezone!r}")
    return save_roster(session, roster)


def save_roster(session: Session, roster: Roster) -> int:
    """Replace the stored roster with `roster` (one transaction); returns the new version."""
    for table in (m.RouteTier, m.RosterOverride, m.Shift, m.Officer, m.Team, m.Holiday):
        session.execute(delete(table))
    teams: dict[str, m.Team] = {}
    for i, team in enumerate(roster.teams.values()):
        teams[team.code] = m.Team(
            code=team.code, name_zh=team.name_zh, name_en=team.name_en, position=i
        )
    session.add_all(teams.values())
    session.flush()
    officers: dict[str, m.Officer] = {}
    for i, officer in enumerate(roster.officers.values()):
        officers[officer.code] = m.Officer(
            code=officer.code,
            name=officer.name,
            team_id=teams[officer.team].id,
            phone=officer.phone,
            available=officer.available,
            position=i,
        )
    session.add_all(officers.values())
    session.flush()
    session.add_all(
        m.Shift(
            officer_id=officers[shift.officer].id,
            days="".join("1" if d in shift.days else "0" for d in range(_DAYS)),
            start_time=shift.start.strftime("%H:%M"),
            end_time=shift.end.strftime("%H:%M"),
            holidays=m.HolidayRule(shift.holidays),
            position=i,
        )
        for i, shift in enumerate(roster.shifts)
    )
    session.add_all(
        m.RosterOverride(
            officer_id=officers[o.officer].id,
            start_at=o.start,
            end_at=o.end,
            on_duty=o.on_duty,
            note=o.note,
        )
        for o in roster.overrides
    )
    session.add_all(m.Holiday(day=day, name=name) for day, name in roster.holidays.items())
    session.add_all(
        m.RouteTier(
            route=route,
            position=i,
            team_id=teams[tier.team].id,
            strategy=m.Strategy(tier.strategy),
            ring_seconds=tier.ring_seconds,
        )
        for route, tiers in roster.routes.items()
        for i, tier in enumerate(tiers)
    )
    insert_if_missing(
        session,
        m.RosterInfo,
        {"id": 1, "version": 0, "timezone": roster.timezone, "imported_at": utcnow()},
        unique="id",
    )
    session.execute(
        update(m.RosterInfo)
        .where(m.RosterInfo.id == 1)
        .values(version=m.RosterInfo.version + 1, timezone=roster.timezone, imported_at=utcnow())
    )
    session.flush()
    return roster_version(session) or 0


def roster_version(session: Session) -> int | None:
    """The stored roster's version; None when no roster was ever imported."""
    return session.scalar(select(m.RosterInfo.version).where(m.RosterInfo.id == 1))


def load_roster(session: Session) -> Roster | None:
    """The stored roster, or None when none was imported."""
    info = session.get(m.RosterInfo, 1)
    if info is None:
        return None
    team_rows = session.scalars(select(m.Team).order_by(m.Team.position)).all()
    team_codes = {t.id: t.code for t in team_rows}
    officer_rows = session.scalars(select(m.Officer).order_by(m.Officer.position)).all()
    officer_codes = {o.id: o.code for o in officer_rows}
    routes: dict[str, list[Tier]] = {}
    for tier in session.scalars(
        select(m.RouteTier).order_by(m.RouteTier.route, m.RouteTier.position)
    ):
        routes.setdefault(tier.route, []).append(
            Tier(
                team=team_codes[tier.team_id],
                strategy=tier.strategy.value,
                ring_seconds=tier.ring_seconds,
            )
        )
    return Roster(
        timezone=info.timezone,
        teams={t.code: Team(code=t.code, name_zh=t.name_zh, name_en=t.name_en) for t in team_rows},
        officers={
            o.code: Officer(
                code=o.code,
                name=o.name,
                team=team_codes[o.team_id],
                phone=o.phone,
                available=o.available,
            )
            for o in officer_rows
        },
        shifts=tuple(
            Shift(
                officer=officer_codes[s.officer_id],
                days=frozenset(i for i, on in enumerate(s.days) if on == "1"),
                start=dt.time.fromisoformat(s.start_time),
                end=dt.time.fromisoformat(s.end_time),
                holidays=s.holidays.value,
            )
            for s in session.scalars(select(m.Shift).order_by(m.Shift.position))
        ),
        overrides=tuple(
            Override(
                officer=officer_codes[o.officer_id],
                start=o.start_at,
                end=o.end_at,
                on_duty=o.on_duty,
                note=o.note,
            )
            for o in session.scalars(
                select(m.RosterOverride).order_by(m.RosterOverride.start_at, m.RosterOverride.id)
            )
        ),
        holidays={
            h.day: h.name for h in session.scalars(select(m.Holiday).order_by(m.Holiday.day))
        },
        routes={route: tuple(tiers) for route, tiers in routes.items()},
    )


def set_available(session: Session, officer_code: str, available: bool) -> bool:
    """Mark an officer (un)available; returns whether the officer exists."""
    result = session.execute(
        update(m.Officer).where(m.Officer.code == officer_code).values(available=available)
    )
    if not getattr(result, "rowcount", 0):
        return False
    session.execute(
        update(m.RosterInfo).where(m.RosterInfo.id == 1).values(version=m.RosterInfo.version + 1)
    )
    return True


# ---------------------------------------------------------------- what happened while bridging


def log_dial(session: Session, record: dict[str, Any]) -> None:
    """Record that a <Dial> step started ringing (idempotent on call and step)."""
    insert_if_missing(
        session,
        m.BridgeAttempt,
        {
            "call_sid": record["call_sid"],
            "route": record["route"],
            "step": record["step"],
            "tier": record["tier"],
            "numbers": record["numbers"],
            "started_at": parse_time(record["at"]),
            "outcome": "ringing",
        },
        unique=("call_sid", "step"),
    )


def log_accept(session: Session, record: dict[str, Any]) -> None:
    """Record that an officer pressed a key to take the call (first acceptance wins)."""
    session.execute(
        update(m.BridgeAttempt)
        .where(
            m.BridgeAttempt.call_sid == record["call_sid"],
            m.BridgeAttempt.step == record["step"],
            m.BridgeAttempt.accepted_at.is_(None),
        )
        .values(
            accepted_at=parse_time(record["at"]),
            answered_phone=record["phone"],
            answered_by=record.get("officer"),
        )
    )


def log_dial_result(session: Session, record: dict[str, Any]) -> None:
    """Record how a <Dial> step ended (the first report wins; retries change nothing)."""
    session.execute(
        update(m.BridgeAttempt)
        .where(
            m.BridgeAttempt.call_sid == record["call_sid"],
            m.BridgeAttempt.step == record["step"],
            m.BridgeAttempt.ended_at.is_(None),
        )
        .values(
            ended_at=parse_time(record["at"]),
            outcome=record["outcome"],
            dial_call_sid=record.get("dial_call_sid"),
            duration_s=record.get("duration_s"),
        )
    )


def raise_alert(session: Session, record: dict[str, Any]) -> None:
    """Open an alert (one per call and kind, however often it is raised)."""
    insert_if_missing(
        session,
        m.Alert,
        {
            "call_sid": record.get("call_sid"),
            "priority": record["priority"],
            "kind": record["kind"],
            "message": record["message"],
            "recording_url": record.get("recording_url"),
            "created_at": parse_time(record["at"]),
        },
        unique=("call_sid", "kind"),
    )


def attempts(session: Session, call_sid: str) -> list[m.BridgeAttempt]:
    """The bridge attempts of a call, in order."""
    return list(
        session.scalars(
            select(m.BridgeAttempt)
            .where(m.BridgeAttempt.call_sid == call_sid)
            .order_by(m.BridgeAttempt.step)
            .execution_options(populate_existing=True)
        )
    )


def parse_time(value: str | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def answer_times(session: Session, since: dt.datetime) -> list[tuple[str, str, float]]:
    """Per bridged call since `since`: (call_sid, route, seconds from key press to acceptance).

    The key press is when the IVR handed the call over; acceptance is the officer's key press
    on the screening whisper — the moment the caller reaches a person.
    """
    from ivr.models import IvrSession  # the IVR owns the hand-over time

    first_accept = (
        select(
            m.BridgeAttempt.call_sid,
            func.min(m.BridgeAttempt.route).label("route"),
            func.min(m.BridgeAttempt.accepted_at).label("accepted_at"),
        )
        .where(m.BridgeAttempt.accepted_at.is_not(None), m.BridgeAttempt.started_at >= since)
        .group_by(m.BridgeAttempt.call_sid)
        .subquery()
    )
    rows = session.execute(
        select(
            first_accept.c.call_sid,
            first_accept.c.route,
            first_accept.c.accepted_at,
            IvrSession.handed_over_at,
        )
        .join(IvrSession, IvrSession.call_sid == first_accept.c.call_sid)
        .where(IvrSession.handed_over_at.is_not(None))
    ).all()
    result = [
        (call_sid, route, (accepted_at - handed_over_at).total_seconds())
        for call_sid, route, accepted_at, handed_over_at in rows
    ]
    return sorted(result, key=lambda row: row[2])
