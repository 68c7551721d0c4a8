"""The contracts file, config/providers.yaml: read and validated whole.

`load_providers` raises `ProvidersError` naming the entry and field; every agreed price must
respect the price policy (`providers.pricing`). `providers.service.sync_providers` writes the
result to the database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.files import (
    load_config_file,
    reject_unknown_fields,
    require_mapping,
    require_phone,
    require_text,
)
from core.categories import CATEGORIES
from core.phone import to_e164
from providers.errors import ProvidersError
from providers.pricing import PriceItem, parse_money, price_problem

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_PROVIDER_FIELDS: tuple[str, ...] = ("code", "name", "categories", "contract_start", "contract_end")
_PROVIDER_FIELDS += ("duty_phone", "prices")
_PRICE_FIELDS = ("name", "price", "market_reference")
_SECTIONS = ("sub_services", "providers")


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
    return require_phone(value, where, ProvidersError, lambda text: to_e164(text, region))


def _text(value: Any, where: str) -> str:
    return require_text(value, where, ProvidersError)


def _known_fields(spec: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    reject_unknown_fields(spec, known, where, ProvidersError)
