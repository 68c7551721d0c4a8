"""Contracted market service providers: contracts file, dispatch, complaints, the year's figures.

Policy (DOMAIN.md, "Market service providers"):

- providers are admitted by agreement; `config/providers.yaml` lists them with their categories,
  contract dates, duty phone and agreed price list, and `sync_providers` writes it to the
  database (the file is validated whole first: `load_providers` raises `ProvidersError` naming
  the entry and field);
- the usual charge is at least 15% below market: no price above 85% of the market reference is
  accepted, neither in the agreed price list nor when a job is assigned (`assign`);
- three complaints within a rolling year (the 365 days ending at the latest complaint) suspend
  the provider automatically, with the reason on record (`record_complaint`); a suspended
  provider is never offered (`eligible`) nor assigned, and synchronising the file does not lift
  the suspension;
- at year end the government subsidises and rewards providers by volume and quality:
  `year_report` gives the figures.

Functions flush, never commit. Times are timezone-aware; local dates (contract days, the
calendar year, dates in a suspension reason) are taken in `tz`, the hotline's timezone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cases.deadlines import CATEGORIES
from config.files import ConfigFileError, load_config_file, require_mapping
from core.db import utcnow
from core.phone import InvalidPhoneNumber, to_e164
from providers.models import Provider, ProviderComplaint, ProviderJob, ProviderState

#: The most a provider may charge, as a share of the market reference (at least 15% below).
MAX_SHARE = Decimal("0.85")
#: Complaints within this many days, counted back from the latest, suspend a provider...
COMPLAINT_WINDOW = dt.timedelta(days=365)
#: ...when there are this many.
COMPLAINT_LIMIT = 3
#: Ratings that count as satisfied (on the survey's 1-to-5 scale).
SATISFIED = 4
CENT = Decimal("0.01")
#: Numeric(10, 2): below a hundred million yuan.
MAX_AMOUNT = Decimal("99999999.99")
MAX_CASE_NUMBER = 32

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_PROVIDER_FIELDS: tuple[str, ...] = ("code", "name", "categories", "contract_start", "contract_end")
_PROVIDER_FIELDS += ("duty_phone", "prices")
_PRICE_FIELDS = ("name", "price", "market_reference")
_SECTIONS = ("sub_services", "providers")


# ------------------------------------------------------------------------------------- errors


class ProvidersError(ConfigFileError):
    """The providers file is invalid; the message names the entry and field."""


class ProviderError(ValueError):
    """Something asked of a provider cannot be done; the message says what and why."""


class ProviderNotFound(ProviderError):
    """No provider (or job) has this code (or id)."""


class ProviderUnavailable(ProviderError):
    """The provider is suspended, its contract has ended, or not begun."""


class UnknownService(ProviderError):
    """The service is not in the provider's agreed price list."""


class PriceRefused(ProviderError):
    """The price is above 85% of the market reference (or not a price at all)."""


# ------------------------------------------------------------------------------ the contracts


def max_price(market_reference: Decimal) -> Decimal:
    """The highest price allowed for a service with this market reference (to the fen, down)."""
    return (market_reference * MAX_SHARE).quantize(CENT, rounding=ROUND_DOWN)


def price_problem(price: Decimal, market_reference: Decimal) -> str | None:
    """Why `price` is refused against `market_reference`, or None when it is allowed."""
    if price > market_reference * MAX_SHARE:
        return (
            f"{price:.2f} is above {MAX_SHARE:.0%} of the market reference "
            f"{market_reference:.2f} (max {max_price(market_reference):.2f})"
        )
    return None


@dataclass(frozen=True)
class PriceItem:
    """One service of an agreed price list (amounts in CNY)."""

    service: str
    name_zh: str
    name_en: str
    price: Decimal
    market_reference: Decimal

    @property
    def max_price(self) -> Decimal:
        return max_price(self.market_reference)

    def to_json(self) -> dict[str, str]:
        return {
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "price": f"{self.price:.2f}",
            "market_reference": f"{self.market_reference:.2f}",
        }


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as its agreement describes it (one entry of the providers file)."""

    code: str
    name_zh: str
    name_en: str
    #: Classifier category ids and sub-services, file order.
    categories: tuple[str, ...]
    #: E.164.
    phone: str
    contract_start: dt.date
    contract_end: dt.date
    prices: Mapping[str, PriceItem]


@dataclass(frozen=True)
class ProvidersConfig:
    """The providers file: every provider by code (file order) and the sub-service vocabulary."""

    providers: Mapping[str, ProviderSpec]
    #: Sub-service (e.g. "lock") -> the classifier category it belongs to.
    sub_services: Mapping[str, str]

    def __contains__(self, code: object) -> bool:
        return code in self.providers

    def __getitem__(self, code: str) -> ProviderSpec:
        return self.providers[code]

    def __iter__(self) -> Iterator[ProviderSpec]:
        return iter(self.providers.values())

    def __len__(self) -> int:
        return len(self.providers)


def load_providers(path: Path, region: str) -> ProvidersConfig:
    """Read and validate the providers file; national phone numbers are read for `region`."""
    return load_config_file(path, lambda raw: parse_providers(raw, region), ProvidersError)


def parse_providers(raw: Any, region: str) -> ProvidersConfig:
    """Validate providers given as plain data (what YAML gives)."""
    doc = require_mapping(raw, "providers file", ProvidersError)
    _known_fields(doc, _SECTIONS, "providers file")
    sub_services = _sub_services(doc.get("sub_services"))
    entries = doc.get("providers")
    if entries is None:
        raise ProvidersError("providers: missing")
    if not isinstance(entries, list):
        raise ProvidersError(
            f"providers: must be a list of providers, got {type(entries).__name__}"
        )
    providers: dict[str, ProviderSpec] = {}
    labels: dict[str, str] = {}
    for i, entry in enumerate(entries):
        spec = _provider(entry, i, region, sub_services, labels)
        providers[spec.code] = spec
    return ProvidersConfig(
        providers=MappingProxyType(providers), sub_services=MappingProxyType(sub_services)
    )


def _sub_services(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    section = require_mapping(value, "sub_services", ProvidersError)
    result: dict[str, str] = {}
    for key, category in section.items():
        name = _text(key, "sub_services")
        where = f"sub_services.{name}"
        if not _CODE.match(name):
            raise ProvidersError(f"{where}: 1 to 32 letters, digits, '_', '.' or '-'")
        if name in CATEGORIES:
            raise ProvidersError(f"{where}: {name!r} is a category id, not a sub-service")
        parent = _text(category, where)
        if parent not in CATEGORIES:
            raise ProvidersError(
                f"{where}: unknown category {parent!r} (known: {', '.join(CATEGORIES)})"
            )
        result[name] = parent
    return result


def _provider(
    entry: Any, i: int, region: str, sub_services: Mapping[str, str], labels: dict[str, str]
) -> ProviderSpec:
    spec = require_mapping(entry, f"providers[{i}]", ProvidersError)
    code = _text(spec.get("code"), f"providers[{i}] code")
    if not _CODE.match(code):
        raise ProvidersError(
            f"providers[{i}] code: 1 to 32 letters, digits, '_', '.' or '-': {code!r}"
        )
    if code in labels:
        raise ProvidersError(f"providers[{i}] code: {code!r} is a duplicate of {labels[code]}")
    name_zh, name_en = _name(spec.get("name"), f"providers[{i}] ({code}) name")
    label = f"providers[{i}] ({name_zh})"
    labels[code] = label
    _known_fields(spec, _PROVIDER_FIELDS, label)
    start = _date(spec.get("contract_start"), f"{label} contract_start")
    end = _date(spec.get("contract_end"), f"{label} contract_end")
    if end < start:
        raise ProvidersError(
            f"{label} contract_end: {end.isoformat()} is before contract_start {start.isoformat()}"
        )
    return ProviderSpec(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        categories=_categories(spec.get("categories"), sub_services, f"{label} categories"),
        phone=_phone(spec.get("duty_phone"), region, f"{label} duty_phone"),
        contract_start=start,
        contract_end=end,
        prices=_prices(spec.get("prices"), label),
    )


def _categories(value: Any, sub_services: Mapping[str, str], where: str) -> tuple[str, ...]:
    if value is None:
        raise ProvidersError(f"{where}: missing (category ids and sub-services it serves)")
    if not isinstance(value, list) or not value:
        raise ProvidersError(f"{where}: must be a non-empty list of category ids and sub-services")
    seen: list[str] = []
    for j, item in enumerate(value):
        category = _text(item, f"{where}[{j}]")
        if category not in CATEGORIES and category not in sub_services:
            known = [*CATEGORIES, *sub_services]
            raise ProvidersError(
                f"{where}[{j}]: unknown category or sub-service {category!r} "
                f"(known: {', '.join(known)})"
            )
        if category in seen:
            raise ProvidersError(f"{where}[{j}]: {category!r} is listed twice")
        seen.append(category)
    for j, category in enumerate(seen):
        parent = sub_services.get(category)
        if parent is not None and parent not in seen:
            raise ProvidersError(
                f"{where}[{j}]: {category!r} is a sub-service of {parent}, which is not listed"
            )
    return tuple(seen)


def _prices(value: Any, label: str) -> Mapping[str, PriceItem]:
    section = require_mapping(value, f"{label} prices", ProvidersError)
    if not section:
        raise ProvidersError(f"{label} prices: at least one service is required")
    items: dict[str, PriceItem] = {}
    for key, entry in section.items():
        service = _text(key, f"{label} prices")
        where = f"{label} prices.{service}"
        if not _CODE.match(service):
            raise ProvidersError(
                f"{where}: a service code is 1 to 32 letters, digits, '_', '.', '-'"
            )
        item = require_mapping(entry, where, ProvidersError)
        _known_fields(item, _PRICE_FIELDS, where)
        name_zh, name_en = _name(item.get("name"), f"{where}.name")
        price = _money(item.get("price"), f"{where}.price")
        reference = _money(item.get("market_reference"), f"{where}.market_reference")
        problem = price_problem(price, reference)
        if problem is not None:
            raise ProvidersError(f"{where}: {problem}")
        items[service] = PriceItem(service, name_zh, name_en, price, reference)
    return MappingProxyType(items)


def _name(value: Any, where: str) -> tuple[str, str]:
    """{zh, en} (en defaults to zh), or plain text for both."""
    if isinstance(value, str):
        text = _text(value, where)
        return text, text
    name = require_mapping(value, where, ProvidersError)
    _known_fields(name, ("zh", "en"), where)
    zh = _text(name.get("zh"), f"{where}.zh")
    en = _text(name["en"], f"{where}.en") if "en" in name else zh
    if len(zh) > 128 or len(en) > 128:
        raise ProvidersError(f"{where}: at most 128 characters")
    return zh, en


def _money(value: Any, where: str) -> Decimal:
    """An amount in CNY, to the fen: 180, 180.5, "180.00"."""
    try:
        return parse_money(value)
    except ValueError as exc:
        raise ProvidersError(f"{where}: {exc}") from None


def parse_money(value: Any) -> Decimal:
    """`value` (int, float, text or Decimal) as a positive amount in CNY with two decimals.

    ValueError when it is missing, not a number, not positive, finer than a fen, or too large.
    """
    if value is None:
        raise ValueError("missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"must be an amount in CNY, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be an amount in CNY, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be a positive amount in CNY, got {value!r}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"at most {MAX_AMOUNT}, got {value!r}")
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise ValueError(f"at most two decimals (fen), got {value!r}")
    return amount.quantize(CENT)


def _date(value: Any, where: str) -> dt.date:
    if value is None:
        raise ProvidersError(f"{where}: missing (a date like 2026-01-01)")
    if isinstance(value, dt.datetime):
        raise ProvidersError(f"{where}: a date without a time, like 2026-01-01")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ProvidersError(f"{where}: must be a date like 2026-01-01, got {value!r}")


def _phone(value: Any, region: str, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an unquoted number: YAML made it an int
    try:
        return to_e164(_text(value, where), region)
    except InvalidPhoneNumber as exc:
        raise ProvidersError(f"{where}: {exc}") from None


def _text(value: Any, where: str) -> str:
    if value is None:
        raise ProvidersError(f"{where}: missing")
    if isinstance(value, bool):
        raise ProvidersError(f"{where}: YAML read {value!r} as true/false; quote it")
    if not isinstance(value, str | int | float) or not str(value).strip():
        raise ProvidersError(f"{where}: must be non-empty text")
    return str(value).strip()


def _known_fields(spec: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in spec:
        if key not in known:
            raise ProvidersError(f"{where}: unknown field {key!r} (known: {', '.join(known)})")


# ------------------------------------------------------------------------------ the database


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
    today = _local_date(_aware(now or utcnow()), tz)
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
    today = _local_date(_aware(now), tz)
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
    now = _aware(now)
    case_number = case_number.strip()
    if not case_number or len(case_number) > MAX_CASE_NUMBER:
        raise ProviderError(f"case number: 1 to {MAX_CASE_NUMBER} characters, got {case_number!r}")
    provider = get_provider(session, provider_code)
    _check_available(provider, _local_date(now, tz))
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
    completed_at = _aware(completed_at, "completed_at")
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


def recent_complaints(
    session: Session, provider: Provider, now: dt.datetime
) -> list[ProviderComplaint]:
    """The provider's complaints within the 365 days ending at `now`, oldest first."""
    now = _aware(now)
    return list(
        session.scalars(
            select(ProviderComplaint)
            .where(
                ProviderComplaint.provider_id == provider.id,
                ProviderComplaint.at >= now - COMPLAINT_WINDOW,
                ProviderComplaint.at <= now,
            )
            .order_by(ProviderComplaint.at, ProviderComplaint.id)
        )
    )


def record_complaint(
    session: Session,
    provider_code: str,
    case_number: str | None,
    note: str,
    now: dt.datetime,
    *,
    tz: dt.tzinfo | None = None,
) -> bool:
    """Record a complaint; True when it suspended the provider.

    That is when it is the third within the 365 days ending `now` (a complaint exactly 365 days
    old still counts) and the provider was not suspended already. The suspension reason lists
    the complaints' local dates and case numbers. A complaint is recorded whatever the state.
    """
    now = _aware(now)
    note = note.strip()
    if not note:
        raise ProviderError("a complaint needs a note: what the caller complained about")
    if case_number is not None:
        case_number = case_number.strip() or None
    if case_number is not None and len(case_number) > MAX_CASE_NUMBER:
        raise ProviderError(f"case number: at most {MAX_CASE_NUMBER} characters")
    provider = session.scalar(
        select(Provider)
        .where(Provider.code == provider_code.strip())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if provider is None:
        raise ProviderNotFound(f"no provider {provider_code!r}")
    session.add(
        ProviderComplaint(provider_id=provider.id, case_number=case_number, at=now, note=note)
    )
    session.flush()
    recent = recent_complaints(session, provider, now)
    if len(recent) < COMPLAINT_LIMIT or provider.state is ProviderState.SUSPENDED:
        return False
    listed = "; ".join(
        f"{_local_date(c.at, tz or now.tzinfo).isoformat()} ({c.case_number or 'no case'})"
        for c in recent
    )
    provider.state = ProviderState.SUSPENDED
    provider.suspended_at = now
    provider.suspension_reason = (
        f"{len(recent)} complaints within {COMPLAINT_WINDOW.days} days: {listed}"
    )
    session.flush()
    return True


# ---------------------------------------------------------------------------- the year's figures


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


# ---------------------------------------------------------------------------------- helpers


def _aware(moment: dt.datetime, what: str = "now") -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime; pass a timezone-aware one (core.db.utcnow())")
    return moment


def _local_date(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.date:
    """The date of `moment` in `tz` (None: in the moment's own timezone)."""
    return moment.astimezone(tz).date() if tz is not None else moment.date()


def refusal(session: Session, code: str, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Why the unit `code` may not be sent a case now, if it is a provider that can't serve.

    None when it is not a provider, or one that is active and within its contract.
    """
    provider = session.scalar(select(Provider).where(Provider.code == code))
    if provider is None:
        return None
    if provider.state is not ProviderState.ACTIVE:
        reason = f": {provider.suspension_reason}" if provider.suspension_reason else ""
        return f"provider {code} is {provider.state.value}{reason}"
    if not in_contract(provider, now.astimezone(tz).date()):
        period = f"{provider.contract_start}–{provider.contract_end}"
        return f"provider {code} is outside its contract ({period})"
    return None
