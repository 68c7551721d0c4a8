"""The roster in the database (replaced whole by an import, read back as a pure `Roster`), and
what happened while bridging calls: attempts and figures of them (the call-back tasks an
abandoned bridge raises are routing.callbacks').

The records of a bridge (`dial`, `accept`, `dial_result`) are durable records
(core.durable): their handlers, registered here, write them now or when the spool is replayed.
Its alerts are core.alerts'; the end of the call is the IVR's (ivr.hangups), which closes the
bridge attempts with `close_bridges`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, delete, func, literal, select, update
from sqlalchemy.orm import Session

from calls.models import Call
from core import durable
from core.alerts import raise_alert
from core.calendar import Holiday, stored_holidays
from core.db import insert_if_missing, utcnow
from core.durable import parse_time
from routing import models as m
from routing.callbacks import ABANDONED, abandoned_bridge_records, open_callback
from routing.roster import Officer, Override, Roster, RosterError, Shift, Team, Tier

_DAYS = 7


def replace_roster(session: Session, roster: Roster, timezone: str) -> int:
    """Store a validated roster as the new version, if it is in the hotline's timezone."""
    if roster.timezone != timezone:
        raise RosterError(f"timezone: {roster.timezone!r} differs from TIMEZONE={timezone!r}")
    return save_roster(session, roster)


def save_roster(session: Session, roster: Roster) -> int:
    """Replace the stored roster with `roster` (one transaction); returns the new version."""
    for table in (m.RouteTier, m.RosterOverride, m.Shift, m.Officer, m.Team, Holiday):
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
    session.add_all(Holiday(day=day, name=name) for day, name in roster.holidays.items())
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
        holidays=stored_holidays(session),
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


@durable.handler("dial")
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


_ATTEMPTS = cast(Table, m.BridgeAttempt.__table__)
#: The officers' webhooks' UPDATEs, built once; the SET clause comes from the values given at
#: execution (their names are columns), the step from w_call_sid and w_step.
_STEP = (_ATTEMPTS.c.call_sid == bindparam("w_call_sid")) & (
    _ATTEMPTS.c.step == bindparam("w_step")
)
_ACCEPT = update(_ATTEMPTS).where(_STEP, _ATTEMPTS.c.accepted_at.is_(None))
_DIAL_RESULT = update(_ATTEMPTS).where(_STEP, _ATTEMPTS.c.ended_at.is_(None))


@durable.handler("accept")
def log_accept(session: Session, record: dict[str, Any]) -> None:
    """Record that an officer pressed a key to take the call (first acceptance wins)."""
    session.execute(
        _ACCEPT,
        {
            "w_call_sid": record["call_sid"],
            "w_step": record["step"],
            "accepted_at": parse_time(record["at"]),
            "answered_phone": record["phone"],
            "answered_by": record.get("officer"),
        },
    )


@durable.handler("dial_result")
def log_dial_result(session: Session, record: dict[str, Any]) -> None:
    """Record how a <Dial> step ended (the first report wins; retries change nothing)."""
    session.execute(
        _DIAL_RESULT,
        {
            "w_call_sid": record["call_sid"],
            "w_step": record["step"],
            "ended_at": parse_time(record["at"]),
            "outcome": record["outcome"],
            "dial_call_sid": record.get("dial_call_sid"),
            "duration_s": record.get("duration_s"),
        },
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


_ATTEMPTS = cast(Table, m.BridgeAttempt.__table__)
#: The call is over: every attempt still open is closed, `abandoned` unless an officer accepted.
_CLOSE_OPEN_ATTEMPTS = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.call_sid == bindparam("w_call_sid"), _ATTEMPTS.c.ended_at.is_(None))
    .values(
        ended_at=bindparam("w_now", type_=_ATTEMPTS.c.ended_at.type),
        outcome=case(
            (_ATTEMPTS.c.accepted_at.is_(None), literal(ABANDONED)), else_=literal("connected")
        ),
    )
    .returning(_ATTEMPTS.c.route, _ATTEMPTS.c.outcome)
)


def close_bridges(session: Session, call_sid: str, now: dt.datetime) -> None:
    """The call is over: close its open bridge attempts, `abandoned` unless an officer accepted.

    One statement, built once; for an abandoned one (should the Dial action never come) its
    alert and call-back task are raised here. Idempotent: a second time finds nothing open.
    """
    closed = session.execute(_CLOSE_OPEN_ATTEMPTS, {"w_call_sid": call_sid, "w_now": now}).all()
    abandoned = [route for route, outcome in closed if outcome == ABANDONED]
    if not abandoned:
        return
    caller = session.execute(
        select(Call.from_number, Call.language).where(Call.call_sid == call_sid)
    ).first()
    for kind, values in abandoned_bridge_records(
        call_sid=call_sid,
        route=abandoned[0],
        language=(caller.language if caller else None) or "zh",
        caller=caller.from_number if caller else None,
        at=now.isoformat(),
        detail="before any officer accepted (seen when the call ended)",
    ):
        (raise_alert if kind == "alert" else open_callback)(session, values)


# ---------------------------------------------------------------- how bridged calls ended


@dataclasses.dataclass(frozen=True)
class BridgeCounts:
    """Bridged calls by how they ended: each call counted once, by its best outcome."""

    answered: int = 0
    #: The caller hung up while phones rang, before any officer accepted.
    abandoned: int = 0
    #: Every step rang out (or failed) with the caller still on the line.
    unanswered: int = 0
    #: Still ringing (the call has not ended).
    ringing: int = 0

    @property
    def ended(self) -> int:
        return self.answered + self.abandoned + self.unanswered

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned calls over bridged calls that ended; None without any."""
        return self.abandoned / self.ended if self.ended else None

    def __add__(self, other: BridgeCounts) -> BridgeCounts:
        return BridgeCounts(
            self.answered + other.answered,
            self.abandoned + other.abandoned,
            self.unanswered + other.unanswered,
            self.ringing + other.ringing,
        )


def bridge_outcomes(
    session: Session, since: dt.datetime, until: dt.datetime | None = None
) -> dict[str, BridgeCounts]:
    """Per route, the calls bridged in [since, until): answered, abandoned, unanswered, ringing.

    An abandoned call is neither answered nor "nobody answered": it gets its own count.
    """
    a = m.BridgeAttempt
    period = [a.started_at >= since] + ([a.started_at < until] if until is not None else [])
    per_call = (
        select(
            func.min(a.route).label("route"),
            func.count(a.accepted_at).label("accepted"),
            func.sum(case((a.outcome == ABANDONED, 1), else_=0)).label("abandoned"),
            func.sum(case((a.ended_at.is_(None), 1), else_=0)).label("open"),
        )
        .where(*period)
        .group_by(a.call_sid)
        .subquery()
    )
    none_accepted = per_call.c.accepted == 0
    rows = session.execute(
        select(
            per_call.c.route,
            func.sum(case((per_call.c.accepted > 0, 1), else_=0)),
            func.sum(case((and_(none_accepted, per_call.c.abandoned > 0), 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(none_accepted, per_call.c.abandoned == 0, per_call.c.open == 0),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.count(),
        ).group_by(per_call.c.route)
    ).all()
    result = {}
    for route, answered, abandoned, unanswered, total in rows:
        answered, abandoned, unanswered = int(answered), int(abandoned), int(unanswered)
        result[route] = BridgeCounts(
            answered, abandoned, unanswered, int(total) - answered - abandoned - unanswered
        )
    return result
