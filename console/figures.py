"""The center's figures for a period: what the console charts, the API serves and CSV exports.

`figures_for_request` is the period a request asks for (`?from=…&to=…`, local days) and its
figures, the same for the console's pages and `/api/v1/figures`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections import Counter
from typing import Any

from flask import abort, current_app, request
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from calls.models import Call, CallDirection
from cases.models import Case
from cases.workflow import OPEN_STATES_ORDERED
from core import db
from core.db import utcnow
from core.inputs import BadInput, day
from core.webhooks import settings
from desk.figures import DeskFigures, desk_figures
from ivr.figures import answer_times
from providers.models import Provider, ProviderComplaint
from routing import store
from surveys.definition import Survey
from surveys.report import survey_report

#: An emergency answered within this many seconds counts as answered in time.
ANSWER_TARGET_S = 15.0


@dataclasses.dataclass
class Figures:
    since: dt.datetime
    until: dt.datetime
    calls_per_hour: list[tuple[str, int]]
    answer_p50_s: float | None
    answer_p90_s: float | None
    answered_within_target: float | None
    answered_calls: int
    #: Bridged calls by how they ended; an abandoned call is neither answered nor unanswered.
    bridged: store.BridgeCounts
    cases_by_category: list[tuple[str, int]]
    cases_by_unit: list[tuple[str, int]]
    cases: int
    overdue: int
    surveys_by_unit: list[dict[str, Any]]
    complaints_by_provider: list[tuple[str, int]]
    #: The call-taker desk's queue: waits, abandonment, call-backs, calls per call-taker.
    desk: DeskFigures

    @property
    def overdue_rate(self) -> float | None:
        return self.overdue / self.cases if self.cases else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.astimezone(dt.UTC).isoformat(),
            "until": self.until.astimezone(dt.UTC).isoformat(),
            "calls_per_hour": [{"hour": h, "calls": n} for h, n in self.calls_per_hour],
            "emergency_answer": {
                "calls": self.answered_calls,
                "p50_s": self.answer_p50_s,
                "p90_s": self.answer_p90_s,
                "share_within_15_s": self.answered_within_target,
            },
            "bridged_calls": {
                "answered": self.bridged.answered,
                "abandoned": self.bridged.abandoned,
                "unanswered": self.bridged.unanswered,
                "ringing": self.bridged.ringing,
                "abandon_rate": self.bridged.abandon_rate,
            },
            "cases_by_category": [{"category": c, "cases": n} for c, n in self.cases_by_category],
            "cases_by_unit": [{"unit": u, "cases": n} for u, n in self.cases_by_unit],
            "cases": self.cases,
            "overdue": self.overdue,
            "overdue_rate": self.overdue_rate,
            "surveys_by_unit": self.surveys_by_unit,
            "complaints_by_provider": [
                {"provider": p, "complaints": n} for p, n in self.complaints_by_provider
            ],
            "desk": self.desk.as_dict(),
        }

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """(figure, key, value) rows: one flat table that any spreadsheet opens."""
        rows = [("calls_per_hour", hour, str(n)) for hour, n in self.calls_per_hour]
        rows += [
            ("emergency_answer", "calls", str(self.answered_calls)),
            ("emergency_answer", "p50_s", _num(self.answer_p50_s)),
            ("emergency_answer", "p90_s", _num(self.answer_p90_s)),
            ("emergency_answer", "share_within_15_s", _num(self.answered_within_target)),
            ("bridged_calls", "answered", str(self.bridged.answered)),
            ("bridged_calls", "abandoned", str(self.bridged.abandoned)),
            ("bridged_calls", "unanswered", str(self.bridged.unanswered)),
            ("bridged_calls", "ringing", str(self.bridged.ringing)),
            ("bridged_calls", "abandon_rate", _num(self.bridged.abandon_rate)),
        ]
        rows += [("cases_by_category", c, str(n)) for c, n in self.cases_by_category]
        rows += [("cases_by_unit", u, str(n)) for u, n in self.cases_by_unit]
        rows += [("overdue", "cases", str(self.cases)), ("overdue", "overdue", str(self.overdue))]
        rows.append(("overdue", "rate", _num(self.overdue_rate)))
        for row in self.surveys_by_unit:
            for key in (
                "placed",
                "answered",
                "response_rate",
                "resolution_rate",
                "satisfaction_rate",
            ):
                rows.append((f"surveys:{row['unit']}", key, _num(row[key])))
        rows += [("complaints", p, str(n)) for p, n in self.complaints_by_provider]
        rows += self.desk.csv_rows()
        return rows


def _num(value: float | int | None) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def compute(
    session: Session,
    survey: Survey,
    tz: dt.tzinfo,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
    wrap_up_s: int = 30,
) -> Figures:
    """Every figure for [since, until)."""
    hours: Counter[str] = Counter()
    for (created,) in session.execute(
        select(Call.created_at).where(
            Call.direction == CallDirection.INBOUND,
            Call.parent_call_sid.is_(None),
            Call.created_at >= since,
            Call.created_at < until,
        )
    ):
        hours[created.astimezone(tz).strftime("%Y-%m-%d %H:00")] += 1
    # Answer times are of calls an officer accepted: an abandoned call has none, and is counted
    # apart in `bridged` (with the abandon rate).
    times = [s for _, _, s in answer_times(session, since, until) if s is not None]
    bridged = sum(store.bridge_outcomes(session, since, until).values(), store.BridgeCounts())
    in_period = and_(Case.created_at >= since, Case.created_at < until)
    by_category = session.execute(
        select(Case.category, func.count()).where(in_period).group_by(Case.category)
    ).all()
    by_unit = session.execute(
        select(Case.unit_code, func.count()).where(in_period).group_by(Case.unit_code)
    ).all()
    late = or_(
        and_(Case.state.in_(OPEN_STATES_ORDERED), Case.due_at < now),
        and_(Case.resolved_at.is_not(None), Case.resolved_at > Case.due_at),
    )
    cases = session.scalar(select(func.count()).select_from(Case).where(in_period)) or 0
    overdue = session.scalar(select(func.count()).select_from(Case).where(in_period, late)) or 0
    surveys = []
    for row in survey_report(session, survey, since=since, until=until, by="unit"):
        surveys.append(
            {
                "unit": row.unit,
                "placed": row.placed,
                "answered": row.responded,
                "response_rate": row.response_rate,
                "resolution_rate": row.rate("resolved"),
                "satisfaction_rate": row.rate("satisfaction"),
            }
        )
    complaints = session.execute(
        select(Provider.code, func.count(ProviderComplaint.id))
        .join(ProviderComplaint, ProviderComplaint.provider_id == Provider.id)
        .where(ProviderComplaint.at >= since, ProviderComplaint.at < until)
        .group_by(Provider.code)
    ).all()
    return Figures(
        since=since,
        until=until,
        calls_per_hour=sorted(hours.items()),
        answer_p50_s=statistics.median(times) if times else None,
        answer_p90_s=_quantile(times, 0.9),
        answered_within_target=(
            sum(1 for s in times if s <= ANSWER_TARGET_S) / len(times) if times else None
        ),
        answered_calls=len(times),
        bridged=bridged,
        cases_by_category=sorted(((c, n) for c, n in by_category), key=lambda r: -r[1]),
        cases_by_unit=sorted(((u or "-", n) for u, n in by_unit), key=lambda r: -r[1]),
        cases=cases,
        overdue=overdue,
        surveys_by_unit=surveys,
        complaints_by_provider=sorted(((p, n) for p, n in complaints), key=lambda r: -r[1]),
        desk=desk_figures(session, since, until, wrap_up_s=wrap_up_s, now=now),
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def period() -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """The chosen local days (?from=YYYY-MM-DD&to=…; default the last 7 days) and their span.

    The days are read by core.inputs.day (ASCII ISO dates only); a malformed or absurd one, a
    period that runs backwards or spans more than a year is a 400."""
    tz = settings().tz
    today = dt.datetime.now(tz).date()
    first, last = today - dt.timedelta(days=6), today
    try:
        if request.args.get("from"):
            first = day(request.args["from"], "from")
        if request.args.get("to"):
            last = day(request.args["to"], "to")
    except BadInput as exc:
        abort(400, description=str(exc))
    if last < first or (last - first).days > 366 or first.year < 2000 or last.year > 2100:
        abort(400, description="the period must run forwards, within 2000–2100, for at most a year")
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    return first, last, start, end


def figures_for_request() -> tuple[Figures, dt.date, dt.date]:
    """The figures of the period the request asks for (?from=…&to=…), and its local days."""
    first, last, start, end = period()
    result = compute(
        db.session(),
        current_app.extensions["hotline.survey"],
        settings().tz,
        start,
        end,
        utcnow(),
        settings().desk_wrap_up_s,
    )
    return result, first, last
