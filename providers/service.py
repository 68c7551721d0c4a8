"""Contracted market service providers: synchronising the contracts, dispatch and the jobs.

Policy (DOMAIN.md, "Market service providers"):

- providers are admitted by agreement; `config/providers.yaml` lists them with their categories,
  contract dates, duty phone and agreed price list, and `sync_providers` writes it to the
  database (the file is validated whole first: `providers.contracts.load_providers` raises
  `ProvidersError` naming the entry and field);
- the usual charge is at least 15% below market: no price above 85% of the market reference is
  accepted, neither in the agreed price list nor when a job is assigned (`assign`; the policy
  is `providers.pricing`);
- three complaints within a rolling year (the 365 days ending at the latest complaint) suspend
  the provider automatically, with the reason on record (`providers.complaints`); a suspended
  provider is never offered (`eligible`) nor assigned, and synchronising the file does not lift
  the suspension;
- at year end the government subsidises and rewards providers by volume and quality:
  `providers.report.year_report` gives the figures.

Functions flush, never commit. Times are timezone-aware; local dates (contract days, the
calendar year, dates in a suspension reason) are taken in `tz`, the hotline's timezone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.db import utcnow
from providers.contracts import ProvidersConfig
from providers.errors import (
    PriceRefused,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    UnknownService,
)
from providers.models import MAX_CASE_NUMBER, Provider, ProviderJob, ProviderState
from providers.pricing import PriceItem, parse_money, price_problem
from providers.times import aware, local_date


@dataclass(frozen=True)
class SyncResult:
    """What `sync_providers` did, by provider code."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    #: Left the file: their state is now expired (unless suspended).
    removed: tuple[str, ...]
    #: In the file but suspended: details updated, the suspension kept.
    suspended: tuple[str, ...]
    #: In the file but their contract has ended.
    expired: tuple[str, ...]


def sync_providers(
    session: Session,
    providers_config: ProvidersConfig,
    *,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
) -> SyncResult:
    """Write the contracts file to the database (insert or update each provider, by code).

    A provider's state follows its contract (active, or expired once `contract_end` has passed),
    except that a suspended provider stays suspended: only re-admission lifts that. A provider
    no longer in the file is set to expired (its jobs and complaints are kept).
    """
    today = local_date(aware(now or utcnow()), tz)
    existing = {p.code: p for p in session.scalars(select(Provider))}
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    suspended: list[str] = []
    expired: list[str] = []
    for spec in providers_config:
        values: dict[str, Any] = {
            "name_zh": spec.name_zh,
            "name_en": spec.name_en,
            "categories": list(spec.categories),
            "phone": spec.phone,
            "contract_start": spec.contract_start,
            "contract_end": spec.contract_end,
            "prices": {code: item.to_json() for code, item in spec.prices.items()},
        }
        provider = existing.get(spec.code)
        before: tuple[Any, ...] | None = None
        if provider is None:
            provider = Provider(code=spec.code, state=ProviderState.ACTIVE, **values)
            session.add(provider)
            added.append(spec.code)
        else:
            before = _comparable(provider)
            for key, value in values.items():
                setattr(provider, key, value)
        if provider.state is not ProviderState.SUSPENDED:
            provider.state = (
                ProviderState.EXPIRED if spec.contract_end < today else ProviderState.ACTIVE
            )
        if before is not None:
            (updated if _comparable(provider) != before else unchanged).append(spec.code)
        if provider.state is ProviderState.SUSPENDED:
            suspended.append(spec.code)
        elif provider.state is ProviderState.EXPIRED:
            expired.append(spec.code)
    removed: list[str] = []
    for code, provider in sorted(existing.items()):
        if code not in providers_config and provider.state is ProviderState.ACTIVE:
            provider.state = ProviderState.EXPIRED
            removed.append(code)
    session.flush()
    return SyncResult(
        added=tuple(added),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        suspended=tuple(suspended),
        expired=tuple(expired),
    )


def _comparable(provider: Provider) -> tuple[Any, ...]:
    return (
        provider.name_zh,
        provider.name_en,
        list(provider.categories),
        provider.phone,
        provider.contract_start,
        provider.contract_end,
        dict(provider.prices),
        provider.state,
    )


def get_provider(session: Session, code: str) -> Provider:
    """The provider with `code`, or ProviderNotFound."""
    provider = session.scalar(select(Provider).where(Provider.code == code.strip()))
    if provider is None:
        raise ProviderNotFound(f"no provider {code!r}")
    return provider


def list_providers(session: Session) -> list[Provider]:
    """Every provider, by code."""
    return list(session.scalars(select(Provider).order_by(Provider.code)))


def in_contract(provider: Provider, day: dt.date) -> bool:
    """Whether `day` (a local date) is within the provider's agreement."""
    return provider.contract_start <= day <= provider.contract_end


def eligible(
    session: Session, category: str, now: dt.datetime, *, tz: dt.tzinfo | None = None
) -> list[Provider]:
    """Providers that may be dispatched now for `category` (a category id or a sub-service).

    Active, within their contract dates, listing `category`; by code. Suspended and expired
    providers are never returned.
    """
    today = local_date(aware(now), tz)
    candidates = session.scalars(
        select(Provider)
        .where(
            Provider.state == ProviderState.ACTIVE,
            Provider.contract_start <= today,
            Provider.contract_end >= today,
        )
        .order_by(Provider.code)
    )
    return [p for p in candidates if category in p.categories]


def price_item(provider: Provider, service: str) -> PriceItem:
    """The agreed price of `service`, or UnknownService naming what the price list has."""
    item = provider.prices.get(service)
    if item is None:
        known = ", ".join(sorted(provider.prices)) or "none"
        raise UnknownService(
            f"provider {provider.code} ({provider.name_zh}) has no service {service!r} "
            f"in its agreed price list (services: {known})"
        )
    return PriceItem(
        service=service,
        name_zh=str(item["name_zh"]),
        name_en=str(item["name_en"]),
        price=Decimal(str(item["price"])),
        market_reference=Decimal(str(item["market_reference"])),
    )


def assign(
    session: Session,
    provider_code: str,
    case_number: str,
    service: str,
    price: Decimal | int | str | None,
    now: dt.datetime,
    *,
    tz: dt.tzinfo | None = None,
) -> ProviderJob:
    """Give a case to a provider at `price` (None: the agreed price) for `service`.

    Refused (ProviderError, with the figures) when the provider is unknown, suspended, expired
    or out of contract, the service is not in its price list, or the price is above 85% of the
    service's market reference.
    """
    now = aware(now)
    case_number = case_number.strip()
    if not case_number or len(case_number) > MAX_CASE_NUMBER:
        raise ProviderError(f"case number: 1 to {MAX_CASE_NUMBER} characters, got {case_number!r}")
    provider = get_provider(session, provider_code)
    _check_available(provider, local_date(now, tz))
    item = price_item(provider, service)
    if price is None:
        amount = item.price
    else:
        try:
            amount = parse_money(price)
        except ValueError as exc:
            raise PriceRefused(f"{provider.code} {service}: price: {exc}") from None
    problem = price_problem(amount, item.market_reference)
    if problem is not None:
        raise PriceRefused(
            f"{provider.code} ({provider.name_zh}) {service}: price {problem}; "
            f"the agreed price is {item.price:.2f}"
        )
    job = ProviderJob(
        provider_id=provider.id,
        case_number=case_number,
        service=service,
        price=amount,
        quoted_at=now,
    )
    session.add(job)
    session.flush()
    return job


def _check_available(provider: Provider, today: dt.date) -> None:
    who = f"provider {provider.code} ({provider.name_zh})"
    if provider.state is ProviderState.SUSPENDED:
        since = provider.suspended_at.date().isoformat() if provider.suspended_at else "?"
        raise ProviderUnavailable(
            f"{who} is suspended since {since}: {provider.suspension_reason or 'no reason given'}"
        )
    if provider.state is ProviderState.EXPIRED or today > provider.contract_end:
        raise ProviderUnavailable(
            f"{who}: its contract ended on {provider.contract_end.isoformat()}"
        )
    if today < provider.contract_start:
        raise ProviderUnavailable(
            f"{who}: its contract begins on {provider.contract_start.isoformat()}"
        )


def get_job(session: Session, job_id: int, *, lock: bool = False) -> ProviderJob:
    """The job `job_id` (freshly read and, with `lock`, locked on PostgreSQL), or not found."""
    query = select(ProviderJob).where(ProviderJob.id == job_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    job = session.scalar(query)
    if job is None:
        raise ProviderNotFound(f"no provider job {job_id}")
    return job


def complete(
    session: Session,
    job_id: int,
    completed_at: dt.datetime,
    on_time: bool | None,
    satisfaction: int | None,
) -> ProviderJob:
    """Record that a job is done: when, whether on time, and the caller's rating (1 to 5).

    `on_time` and `satisfaction` may be None (not known yet; see `rate`). A job is completed
    once; completing it again is refused.
    """
    completed_at = aware(completed_at, "completed_at")
    _check_rating(satisfaction)
    job = get_job(session, job_id, lock=True)
    if job.completed_at is not None:
        raise ProviderError(f"job {job_id} was already completed at {job.completed_at.isoformat()}")
    if completed_at < job.quoted_at:
        raise ProviderError(
            f"job {job_id}: completed_at {completed_at.isoformat()} is before it was quoted "
            f"({job.quoted_at.isoformat()})"
        )
    job.completed_at = completed_at
    job.on_time = on_time
    job.satisfaction = satisfaction
    session.flush()
    return job


def rate(session: Session, job_id: int, satisfaction: int) -> ProviderJob:
    """Set the caller's rating (1 to 5) of a completed job, e.g. from the callback survey."""
    _check_rating(satisfaction)
    job = get_job(session, job_id, lock=True)
    if job.completed_at is None:
        raise ProviderError(f"job {job_id} is not completed yet; complete it first")
    job.satisfaction = satisfaction
    session.flush()
    return job


def _check_rating(satisfaction: int | None) -> None:
    if satisfaction is None:
        return
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int):
        raise ProviderError(f"satisfaction: a whole number from 1 to 5, got {satisfaction!r}")
    if not 1 <= satisfaction <= 5:
        raise ProviderError(f"satisfaction: from 1 to 5, got {satisfaction}")


#: Asked at every automatic dispatch: built once.
_BY_CODE = select(Provider).where(Provider.code == bindparam("code"))


def refusal(session: Session, code: str, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Why the unit `code` may not be sent a case now, if it is a provider that can't serve.

    None when it is not a provider, or one that is active and within its contract.
    """
    provider = session.scalar(_BY_CODE, {"code": code})
    if provider is None:
        return None
    if provider.state is not ProviderState.ACTIVE:
        reason = f": {provider.suspension_reason}" if provider.suspension_reason else ""
        return f"provider {code} is {provider.state.value}{reason}"
    if not in_contract(provider, now.astimezone(tz).date()):
        period = f"{provider.contract_start}–{provider.contract_end}"
        return f"provider {code} is outside its contract ({period})"
    return None
