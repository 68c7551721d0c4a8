"""The year's figures per provider, for the year-end subsidy and reward (DOMAIN.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from providers.models import ProviderComplaint, ProviderJob, ProviderState
from providers.pricing import CENT
from providers.service import list_providers

#: Ratings that count as satisfied (on the survey's 1-to-5 scale).
SATISFIED = 4


@dataclass(frozen=True)
class ProviderYear:
    """One provider's year: what the year-end subsidy and reward decision looks at."""

    code: str
    name_zh: str
    name_en: str
    #: The state now (not at year end).
    state: ProviderState
    #: Volume: jobs completed in the year, and what they were charged (CNY).
    jobs: int
    amount: Decimal
    #: Of the completed jobs whose punctuality is known: how many, and the share on time.
    timed: int
    on_time_rate: float | None
    #: Of the completed jobs the caller rated: how many, the mean (1 to 5), the share rated 4-5.
    rated: int
    satisfaction_avg: float | None
    satisfaction_rate: float | None
    #: Complaints received in the year.
    complaints: int


def year_report(session: Session, year: int, *, tz: dt.tzinfo | None = None) -> list[ProviderYear]:
    """Every provider's figures for calendar `year` (in `tz`, default UTC), by code."""
    zone = tz or dt.UTC
    start = dt.datetime(year, 1, 1, tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone).astimezone(dt.UTC)
    job = ProviderJob
    jobs_rows = session.execute(
        select(
            job.provider_id,
            func.count(job.id),
            func.coalesce(func.sum(job.price), 0),
            func.count(job.on_time),
            func.sum(case((job.on_time.is_(True), 1), else_=0)),
            func.count(job.satisfaction),
            func.coalesce(func.sum(job.satisfaction), 0),
            func.sum(case((job.satisfaction >= SATISFIED, 1), else_=0)),
        )
        .where(job.completed_at >= start, job.completed_at < end)
        .group_by(job.provider_id)
    ).all()
    jobs = {row[0]: row[1:] for row in jobs_rows}
    complaints: dict[int, int] = {
        provider_id: count
        for provider_id, count in session.execute(
            select(ProviderComplaint.provider_id, func.count(ProviderComplaint.id))
            .where(ProviderComplaint.at >= start, ProviderComplaint.at < end)
            .group_by(ProviderComplaint.provider_id)
        )
    }
    report: list[ProviderYear] = []
    for provider in list_providers(session):
        count, amount, timed, on_time, rated, rating_sum, satisfied = jobs.get(
            provider.id, (0, 0, 0, 0, 0, 0, 0)
        )
        report.append(
            ProviderYear(
                code=provider.code,
                name_zh=provider.name_zh,
                name_en=provider.name_en,
                state=provider.state,
                jobs=int(count),
                amount=Decimal(str(amount)).quantize(CENT),
                timed=int(timed),
                on_time_rate=int(on_time) / int(timed) if timed else None,
                rated=int(rated),
                satisfaction_avg=int(rating_sum) / int(rated) if rated else None,
                satisfaction_rate=int(satisfied) / int(rated) if rated else None,
                complaints=int(complaints.get(provider.id, 0)),
            )
        )
    return report
