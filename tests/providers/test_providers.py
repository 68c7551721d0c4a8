"""Market service providers on both databases: contracts, the 85% rule, suspension, figures, CLI."""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import cli
from calls.models import AppendOnlyError
from config.settings import CONFIG_DIR
from providers import service
from providers.cli import providers_cli, providers_file
from providers.complaints import record_complaint
from providers.contracts import ProvidersConfig, load_providers, parse_providers
from providers.errors import (
    PriceRefused,
    ProviderError,
    ProviderNotFound,
    ProvidersError,
    ProviderUnavailable,
    UnknownService,
)
from providers.models import Provider, ProviderComplaint, ProviderJob, ProviderState
from providers.report import year_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Monday 2 March 2026, 10:00 in Shanghai.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------ helpers


def providers_doc() -> dict[str, Any]:
    """Four providers: two locksmiths, a plumber, and an appliance firm whose contract ended."""
    return {
        "sub_services": {
            "lock": "household_services",
            "plumbing": "household_services",
            "appliance": "household_services",
        },
        "providers": [
            {
                "code": "xinsheng",
                "name": {"zh": "鑫盛开锁", "en": "Xinsheng locksmiths"},
                "categories": ["household_services", "lock"],
                "contract_start": date(2026, 1, 1),
                "contract_end": date(2026, 12, 31),
                "duty_phone": "13805990301",
                "prices": {
                    "lock_open": {"name": "开门锁", "price": 65, "market_reference": 80},
                    "lock_change": {"name": "更换锁芯", "price": 160, "market_reference": 200},
                },
            },
            {
                "code": "anju",
                "name": {"zh": "安居开锁", "en": "Anju locks and plumbing"},
                "categories": ["household_services", "lock", "plumbing"],
                "contract_start": "2026-01-01",
                "contract_end": "2027-12-31",
                "duty_phone": "+8613805990302",
                "prices": {
                    "lock_change": {
                        "name": {"zh": "更换锁芯", "en": "Lock change"},
                        "price": "150.00",
                        "market_reference": "200.00",
                    },
                    "pipe_unblock": {"name": "管道疏通", "price": 80.0, "market_reference": 100},
                },
            },
            {
                "code": "qingyuan",
                "name": {"zh": "清源水电", "en": "Qingyuan plumbing"},
                "categories": ["household_services", "plumbing"],
                "contract_start": date(2026, 1, 1),
                "contract_end": date(2027, 12, 31),
                "duty_phone": 13805990303,
                "prices": {
                    "pipe_unblock": {"name": "管道疏通", "price": 75.5, "market_reference": 100},
                },
            },
            {
                "code": "jiuyue",
                "name": {"zh": "旧约家电", "en": "Jiuyue appliances"},
                "categories": ["household_services", "appliance"],
                "contract_start": date(2024, 1, 1),
                "contract_end": date(2025, 12, 31),
                "duty_phone": "13805990304",
                "prices": {
                    "appliance_check": {"name": "上门检测", "price": 30, "market_reference": 40},
                },
            },
        ],
    }


def parsed(doc: dict[str, Any] | None = None) -> ProvidersConfig:
    return parse_providers(providers_doc() if doc is None else doc, "CN")


def synced(db_session: Session, now: datetime = T0) -> ProvidersConfig:
    config = parsed()
    service.sync_providers(db_session, config, now=now, tz=SHANGHAI)
    return config


def provider(db_session: Session, code: str) -> Provider:
    return db_session.scalars(
        select(Provider).where(Provider.code == code).execution_options(populate_existing=True)
    ).one()


def codes(providers: list[Provider]) -> list[str]:
    return [p.code for p in providers]


def complain(db_session: Session, code: str, at: datetime, case: str | None = None) -> bool:
    return record_complaint(db_session, code, case, "服务态度差", at, tz=SHANGHAI)


# ------------------------------------------------------------------------------ the contracts


def test_demo_file_loads_and_keeps_the_85_percent_rule() -> None:
    config = load_providers(CONFIG_DIR / "providers.yaml", "CN")
    assert len(config) >= 4
    assert "anju_home_services" in config  # the same code as its unit in config/units.yaml
    for spec in config:
        assert spec.phone.startswith("+86138059")
        assert spec.contract_start <= spec.contract_end
        assert spec.categories[0] == "household_services"
        for item in spec.prices.values():
            assert isinstance(item.price, Decimal)
            assert item.price <= item.market_reference * Decimal("0.85")


def test_parse_reads_amounts_as_decimals_and_phones_as_e164() -> None:
    config = parsed()
    assert list(config.providers) == ["xinsheng", "anju", "qingyuan", "jiuyue"]
    anju = config["anju"]
    assert anju.name_zh == "安居开锁" and anju.contract_end == date(2027, 12, 31)
    assert anju.prices["lock_change"].price == Decimal("150.00")
    assert anju.prices["lock_change"].name_en == "Lock change"
    assert anju.prices["pipe_unblock"].name_en == "管道疏通"
    assert anju.prices["lock_change"].max_price == Decimal("170.00")
    assert config["qingyuan"].phone == "+8613805990303"
    assert str(config["qingyuan"].prices["pipe_unblock"].price) == "75.50"


def test_a_price_of_exactly_85_percent_is_allowed() -> None:
    doc = providers_doc()
    doc["providers"][1]["prices"]["lock_change"]["price"] = "170.00"
    assert parsed(doc)["anju"].prices["lock_change"].price == Decimal("170.00")
    doc["providers"][1]["prices"]["lock_change"]["price"] = "170.01"
    with pytest.raises(ProvidersError, match=r"170\.01 is above 85% .* \(max 170\.00\)"):
        parsed(doc)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the document: `path` like "providers.1.prices.lock_change.price"."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("providers.1.prices.lock_change.price", 180),
            "providers[1] (安居开锁) prices.lock_change: 180.00 is above 85% of the market "
            "reference 200.00 (max 170.00)",
        ),
        (
            _set("providers.0.prices.lock_open.price", 68.5),
            "providers[0] (鑫盛开锁) prices.lock_open: 68.50 is above 85% of the market "
            "reference 80.00 (max 68.00)",
        ),
        (
            _set("providers.0.duty_phone", "12345"),
            "providers[0] (鑫盛开锁) duty_phone: not a valid phone number: '12345'",
        ),
        (
            _set("providers.0.categories", ["household_services", "locks"]),
            "providers[0] (鑫盛开锁) categories[1]: unknown category or sub-service 'locks'",
        ),
        (
            _set("providers.0.categories", ["lock"]),
            "providers[0] (鑫盛开锁) categories[0]: 'lock' is a sub-service of "
            "household_services, which is not listed",
        ),
        (
            _set("providers.0.categories", []),
            "providers[0] (鑫盛开锁) categories: must be a non-empty list",
        ),
        (
            _set("providers.2.code", "xinsheng"),
            "providers[2] code: 'xinsheng' is a duplicate of providers[0] (鑫盛开锁)",
        ),
        (_set("providers.2.code", "has space"), "providers[2] code: 1 to 32 letters"),
        (_set("providers.2.name", _DELETE), "providers[2] (qingyuan) name: missing"),
        (
            _set("providers.1.contract_end", "2025-12-31"),
            "providers[1] (安居开锁) contract_end: 2025-12-31 is before contract_start 2026-01-01",
        ),
        (
            _set("providers.1.contract_start", _DELETE),
            "providers[1] (安居开锁) contract_start: missing",
        ),
        (
            _set("providers.1.contract_start", "2026-13-01"),
            "providers[1] (安居开锁) contract_start: must be a date like 2026-01-01",
        ),
        (
            _set("providers.1.contract_start", datetime(2026, 1, 1, 8, 0)),  # noqa: DTZ001
            "providers[1] (安居开锁) contract_start: a date without a time",
        ),
        (
            _set("providers.0.prices.lock_open.price", "59.999"),
            "providers[0] (鑫盛开锁) prices.lock_open.price: at most two decimals",
        ),
        (
            _set("providers.0.prices.lock_open.price", -5),
            "providers[0] (鑫盛开锁) prices.lock_open.price: must be a positive amount",
        ),
        (
            _set("providers.0.prices.lock_open.price", _DELETE),
            "providers[0] (鑫盛开锁) prices.lock_open.price: missing",
        ),
        (
            _set("providers.0.prices.lock_open.market_reference", "eighty"),
            "providers[0] (鑫盛开锁) prices.lock_open.market_reference: must be an amount",
        ),
        (
            _set("providers.0.prices.lock_open.discount", 5),
            "providers[0] (鑫盛开锁) prices.lock_open: unknown field 'discount'",
        ),
        (_set("providers.0.prices", {}), "providers[0] (鑫盛开锁) prices: at least one service"),
        (_set("providers.0.prices", _DELETE), "providers[0] (鑫盛开锁) prices: missing"),
        (_set("providers.0.fax", "0599-1234"), "providers[0] (鑫盛开锁): unknown field 'fax'"),
        (
            _set("sub_services.lock", "household"),
            "sub_services.lock: unknown category 'household'",
        ),
        (
            _set("sub_services.utilities", "household_services"),
            "sub_services.utilities: 'utilities' is a category id, not a sub-service",
        ),
        (_set("providers", _DELETE), "providers: missing"),
        (_set("providers", {"a": 1}), "providers: must be a list of providers"),
        (_set("extra", 1), "providers file: unknown field 'extra'"),
    ],
)
def test_invalid_providers_are_refused_naming_entry_and_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = copy.deepcopy(providers_doc())
    change(doc)
    with pytest.raises(ProvidersError) as info:
        parse_providers(doc, "CN")
    assert str(info.value).startswith(message), str(info.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    doc = providers_doc()
    doc["providers"][1]["prices"]["lock_change"]["price"] = 180
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProvidersError, match=rf"^{re.escape(str(path))}: providers\[1\] \(安居"):
        load_providers(path, "CN")
    path.write_text("providers: [", encoding="utf-8")
    with pytest.raises(ProvidersError, match="not valid YAML"):
        load_providers(path, "CN")


# ------------------------------------------------------------------------ sync and eligibility


def test_sync_inserts_then_updates(db_session: Session) -> None:
    result = service.sync_providers(db_session, parsed(), now=T0, tz=SHANGHAI)
    assert result.added == ("xinsheng", "anju", "qingyuan", "jiuyue")
    assert result.expired == ("jiuyue",)
    anju = provider(db_session, "anju")
    assert anju.state is ProviderState.ACTIVE
    assert anju.categories == ["household_services", "lock", "plumbing"]
    assert anju.phone == "+8613805990302"
    assert anju.prices["lock_change"] == {
        "name_zh": "更换锁芯",
        "name_en": "Lock change",
        "price": "150.00",
        "market_reference": "200.00",
    }
    assert provider(db_session, "jiuyue").state is ProviderState.EXPIRED

    doc = providers_doc()
    doc["providers"][1]["duty_phone"] = "13805990399"
    doc["providers"][3]["contract_end"] = date(2027, 12, 31)  # renewed
    del doc["providers"][2]  # qingyuan's agreement was not renewed
    again = service.sync_providers(db_session, parsed(doc), now=T0, tz=SHANGHAI)
    assert again.added == ()
    assert set(again.updated) == {"anju", "jiuyue"}
    assert again.unchanged == ("xinsheng",)
    assert again.removed == ("qingyuan",)
    assert provider(db_session, "anju").phone == "+8613805990399"
    assert provider(db_session, "jiuyue").state is ProviderState.ACTIVE
    assert provider(db_session, "qingyuan").state is ProviderState.EXPIRED


def test_eligible_by_category_state_and_contract(db_session: Session) -> None:
    synced(db_session)
    assert codes(service.eligible(db_session, "lock", T0, tz=SHANGHAI)) == ["anju", "xinsheng"]
    assert codes(service.eligible(db_session, "plumbing", T0)) == ["anju", "qingyuan"]
    assert codes(service.eligible(db_session, "household_services", T0)) == [
        "anju",
        "qingyuan",
        "xinsheng",
    ]
    # wrong category; and the only appliance firm's contract has expired
    assert service.eligible(db_session, "utilities", T0) == []
    assert service.eligible(db_session, "appliance", T0) == []

    # a suspended provider is never offered
    for days in (3, 2, 1):
        complain(db_session, "xinsheng", T0 - timedelta(days=days))
    assert provider(db_session, "xinsheng").state is ProviderState.SUSPENDED
    assert codes(service.eligible(db_session, "lock", T0)) == ["anju"]


def test_eligible_ends_with_the_contract_in_local_time(db_session: Session) -> None:
    synced(db_session)
    # xinsheng's contract ends on 31 December 2026: 00:30 on 1 January in Shanghai is after it,
    # though it is still 31 December in UTC; the state is still active (no sync since).
    new_year = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert codes(service.eligible(db_session, "lock", new_year, tz=SHANGHAI)) == ["anju"]
    assert codes(service.eligible(db_session, "lock", new_year)) == ["anju", "xinsheng"]
    last_day = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)
    assert "xinsheng" in codes(service.eligible(db_session, "lock", last_day, tz=SHANGHAI))
    # and before a contract begins
    doc = providers_doc()
    doc["providers"][2]["contract_start"] = date(2026, 4, 1)
    service.sync_providers(db_session, parsed(doc), now=T0, tz=SHANGHAI)
    assert codes(service.eligible(db_session, "plumbing", T0)) == ["anju"]
    with pytest.raises(ValueError, match="naive datetime"):
        service.eligible(db_session, "lock", datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001


# ------------------------------------------------------------------------------------ assign


def test_assign_at_the_agreed_price_or_any_price_up_to_85_percent(db_session: Session) -> None:
    synced(db_session)
    job = service.assign(db_session, "anju", "MS-20260302-0001", "lock_change", None, T0)
    assert job.price == Decimal("150.00") and job.quoted_at == T0 and job.completed_at is None
    top = service.assign(db_session, "anju", "MS-20260302-0002", "lock_change", "170", T0)
    assert top.price == Decimal("170.00")
    stored = db_session.scalars(select(ProviderJob).order_by(ProviderJob.id)).all()
    assert [(j.case_number, j.service, j.price) for j in stored] == [
        ("MS-20260302-0001", "lock_change", Decimal("150.00")),
        ("MS-20260302-0002", "lock_change", Decimal("170.00")),
    ]


def test_assign_refuses_a_price_above_85_percent_with_the_figures(db_session: Session) -> None:
    synced(db_session)
    with pytest.raises(PriceRefused) as info:
        service.assign(db_session, "anju", "MS-20260302-0001", "lock_change", Decimal(180), T0)
    assert str(info.value) == (
        "anju (安居开锁) lock_change: price 180.00 is above 85% of the market reference 200.00 "
        "(max 170.00); the agreed price is 150.00"
    )
    with pytest.raises(PriceRefused, match=r"170\.01 is above 85%"):
        service.assign(db_session, "anju", "MS-1", "lock_change", "170.01", T0)
    with pytest.raises(PriceRefused, match="must be a positive amount"):
        service.assign(db_session, "anju", "MS-1", "lock_change", 0, T0)
    with pytest.raises(PriceRefused, match="must be an amount in CNY"):
        service.assign(db_session, "anju", "MS-1", "lock_change", "cheap", T0)
    assert db_session.scalars(select(ProviderJob)).all() == []


def test_assign_refuses_unknown_suspended_expired_and_unknown_service(
    db_session: Session,
) -> None:
    synced(db_session)
    with pytest.raises(ProviderNotFound, match="no provider 'nobody'"):
        service.assign(db_session, "nobody", "MS-1", "lock_change", None, T0)
    with pytest.raises(UnknownService) as info:
        service.assign(db_session, "anju", "MS-1", "car_lock_open", None, T0)
    assert "has no service 'car_lock_open'" in str(info.value)
    assert "(services: lock_change, pipe_unblock)" in str(info.value)
    with pytest.raises(ProviderUnavailable, match="its contract ended on 2025-12-31"):
        service.assign(db_session, "jiuyue", "MS-1", "appliance_check", None, T0)
    after_contract = datetime(2027, 1, 2, tzinfo=UTC)
    with pytest.raises(ProviderUnavailable, match=r"xinsheng .* contract ended on 2026-12-31"):
        service.assign(db_session, "xinsheng", "MS-1", "lock_open", None, after_contract)
    for days in (3, 2, 1):
        complain(db_session, "xinsheng", T0 - timedelta(days=days), case=f"MS-{days}")
    with pytest.raises(ProviderUnavailable, match=r"xinsheng .* is suspended since 2026-03-01"):
        service.assign(db_session, "xinsheng", "MS-1", "lock_open", None, T0)
    with pytest.raises(ProviderError, match="case number"):
        service.assign(db_session, "anju", "  ", "lock_change", None, T0)
    assert db_session.scalars(select(ProviderJob)).all() == []


def test_complete_and_rate(db_session: Session) -> None:
    synced(db_session)
    job = service.assign(db_session, "anju", "MS-1", "pipe_unblock", None, T0)
    with pytest.raises(ProviderError, match="satisfaction: from 1 to 5, got 6"):
        service.complete(db_session, job.id, T0 + timedelta(hours=1), True, 6)
    with pytest.raises(ProviderError, match="is before it was quoted"):
        service.complete(db_session, job.id, T0 - timedelta(hours=1), True, 5)
    with pytest.raises(ProviderError, match="not completed yet"):
        service.rate(db_session, job.id, 5)
    done = service.complete(db_session, job.id, T0 + timedelta(hours=1), True, None)
    assert done.completed_at == T0 + timedelta(hours=1) and done.on_time is True
    with pytest.raises(ProviderError, match="already completed"):
        service.complete(db_session, job.id, T0 + timedelta(hours=2), True, 5)
    assert service.rate(db_session, job.id, 4).satisfaction == 4
    with pytest.raises(ProviderNotFound, match="no provider job 999999"):
        service.complete(db_session, 999_999, T0, True, 5)


# ---------------------------------------------------------------------------------- complaints


def test_the_third_complaint_within_a_rolling_year_suspends(db_session: Session) -> None:
    synced(db_session)
    first = T0 - timedelta(days=300)
    assert complain(db_session, "anju", first, "MS-20250505-0001") is False
    assert complain(db_session, "anju", T0 - timedelta(days=30), None) is False
    assert provider(db_session, "anju").state is ProviderState.ACTIVE
    assert complain(db_session, "anju", T0, "MS-20260302-0009") is True

    anju = provider(db_session, "anju")
    assert anju.state is ProviderState.SUSPENDED and anju.suspended_at == T0
    assert anju.suspension_reason == (
        "3 complaints within 365 days: 2025-05-06 (MS-20250505-0001); 2026-01-31 (no case); "
        "2026-03-02 (MS-20260302-0009)"
    )
    # already suspended: recorded, but it does not suspend again
    assert complain(db_session, "anju", T0 + timedelta(days=1)) is False
    assert provider(db_session, "anju").suspended_at == T0
    assert len(db_session.scalars(select(ProviderComplaint)).all()) == 4


def test_complaints_outside_the_rolling_year_do_not_count(db_session: Session) -> None:
    synced(db_session)
    assert complain(db_session, "anju", T0 - timedelta(days=400)) is False
    assert complain(db_session, "anju", T0 - timedelta(days=1)) is False
    # three complaints, but the first was 400 days before the last: only two within a year
    assert complain(db_session, "anju", T0) is False
    assert provider(db_session, "anju").state is ProviderState.ACTIVE

    # exactly 365 days back still counts
    assert complain(db_session, "qingyuan", T0 - timedelta(days=365)) is False
    assert complain(db_session, "qingyuan", T0 - timedelta(days=100)) is False
    assert complain(db_session, "qingyuan", T0) is True


def test_complaint_errors(db_session: Session) -> None:
    synced(db_session)
    with pytest.raises(ProviderNotFound):
        record_complaint(db_session, "nobody", None, "迟到", T0)
    with pytest.raises(ProviderError, match="needs a note"):
        record_complaint(db_session, "anju", None, "  ", T0)
    assert db_session.scalars(select(ProviderComplaint)).all() == []


def test_complaints_are_append_only(db_session: Session) -> None:
    synced(db_session)
    complain(db_session, "anju", T0)
    complaint = db_session.scalars(select(ProviderComplaint)).one()
    complaint.note = "撤回"
    with pytest.raises(AppendOnlyError):
        db_session.flush()
    db_session.rollback()


def test_suspension_is_kept_until_readmitted_sync_does_not_lift_it(db_session: Session) -> None:
    synced(db_session)
    for days in (20, 10, 0):
        complain(db_session, "xinsheng", T0 - timedelta(days=days))
    reason = provider(db_session, "xinsheng").suspension_reason
    doc = providers_doc()
    doc["providers"][0]["contract_end"] = date(2028, 12, 31)  # even with a renewed contract
    result = service.sync_providers(
        db_session, parsed(doc), now=T0 + timedelta(days=30), tz=SHANGHAI
    )
    assert result.suspended == ("xinsheng",)
    xinsheng = provider(db_session, "xinsheng")
    assert xinsheng.state is ProviderState.SUSPENDED
    assert xinsheng.suspension_reason == reason and xinsheng.suspended_at == T0
    assert xinsheng.contract_end == date(2028, 12, 31)
    # removed from the file: still suspended (the reason stays on record)
    del doc["providers"][0]
    assert service.sync_providers(db_session, parsed(doc), now=T0).removed == ()
    assert provider(db_session, "xinsheng").state is ProviderState.SUSPENDED
    assert "xinsheng" not in codes(service.eligible(db_session, "lock", T0 + timedelta(days=60)))


# ---------------------------------------------------------------------------- the year's figures


def _job(
    db_session: Session,
    code: str,
    service_code: str,
    completed_at: datetime | None,
    on_time: bool | None,
    satisfaction: int | None,
    price: str | None = None,
) -> None:
    job = service.assign(db_session, code, "MS-X", service_code, price, T0, tz=SHANGHAI)
    if completed_at is not None:
        service.complete(db_session, job.id, completed_at, on_time, satisfaction)


def test_year_report_on_a_fixed_data_set(db_session: Session) -> None:
    synced(db_session)
    # anju: three jobs done in 2026, one at 00:30 on 1 January 2027 Shanghai time, one open
    _job(db_session, "anju", "lock_change", datetime(2026, 3, 3, tzinfo=UTC), True, 5)
    _job(db_session, "anju", "lock_change", datetime(2026, 6, 1, tzinfo=UTC), True, 4, "170")
    _job(db_session, "anju", "pipe_unblock", datetime(2026, 9, 1, tzinfo=UTC), False, 2)
    _job(db_session, "anju", "pipe_unblock", datetime(2026, 12, 31, 16, 30, tzinfo=UTC), True, 1)
    _job(db_session, "anju", "pipe_unblock", None, None, None)
    # qingyuan: one job, punctuality and rating unknown; complaints in 2025 and 2026
    _job(db_session, "qingyuan", "pipe_unblock", datetime(2026, 4, 1, tzinfo=UTC), None, None)
    complain(db_session, "qingyuan", datetime(2025, 12, 31, 15, 0, tzinfo=UTC))  # 23:00 local
    complain(db_session, "qingyuan", datetime(2025, 12, 31, 17, 0, tzinfo=UTC))  # 2026 locally
    complain(db_session, "qingyuan", datetime(2026, 5, 1, tzinfo=UTC))  # the third: suspended

    report = {r.code: r for r in year_report(db_session, 2026, tz=SHANGHAI)}
    assert list(report) == ["anju", "jiuyue", "qingyuan", "xinsheng"]
    anju = report["anju"]
    assert (anju.jobs, anju.amount) == (3, Decimal("400.00"))
    assert anju.timed == 3 and anju.on_time_rate == pytest.approx(2 / 3)
    assert anju.rated == 3
    assert anju.satisfaction_avg == pytest.approx(11 / 3)
    assert anju.satisfaction_rate == pytest.approx(2 / 3)
    assert anju.complaints == 0 and anju.state is ProviderState.ACTIVE
    qingyuan = report["qingyuan"]
    assert (qingyuan.jobs, qingyuan.amount, qingyuan.timed, qingyuan.rated) == (
        1,
        Decimal("75.50"),
        0,
        0,
    )
    assert qingyuan.on_time_rate is None and qingyuan.satisfaction_avg is None
    assert qingyuan.satisfaction_rate is None
    assert qingyuan.complaints == 2 and qingyuan.state is ProviderState.SUSPENDED
    idle = report["xinsheng"]
    assert (idle.jobs, idle.amount, idle.complaints, idle.on_time_rate) == (
        0,
        Decimal("0.00"),
        0,
        None,
    )
    assert report["jiuyue"].state is ProviderState.EXPIRED

    # in UTC the New Year's Eve job falls in 2026, and one qingyuan complaint in 2025
    utc = {r.code: r for r in year_report(db_session, 2026)}
    assert utc["anju"].jobs == 4 and utc["anju"].satisfaction_avg == pytest.approx(12 / 4)
    assert utc["qingyuan"].complaints == 1
    later = {r.code: r for r in year_report(db_session, 2027, tz=SHANGHAI)}
    assert later["anju"].jobs == 1 and later["anju"].on_time_rate == 1.0


# ------------------------------------------------------------------------------------------ CLI


def run(app: Flask, *args: str) -> Result:
    if "providers" not in app.cli.commands:
        app.cli.add_command(providers_cli)
    return CliRunner().invoke(cli, ["providers", *args], obj=ScriptInfo(create_app=lambda: app))


def write_doc(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_sync_the_demo_file(app: Flask, db_session: Session) -> None:
    assert providers_file(app) == CONFIG_DIR / "providers.yaml"
    result = run(app, "sync")
    assert result.exit_code == 0, result.output
    count = len(load_providers(CONFIG_DIR / "providers.yaml", "CN"))
    assert f"synchronised {count} providers from {CONFIG_DIR / 'providers.yaml'}" in result.output
    assert f"{count} added" in result.output
    assert len(service.list_providers(db_session)) == count
    again = run(app, "sync")
    assert f"0 added, 0 updated, {count} unchanged" in again.output


def test_cli_sync_list_complain_and_report(app: Flask, db_session: Session, tmp_path: Path) -> None:
    doc = providers_doc()
    for entry in doc["providers"][:3]:  # whenever the test runs
        entry["contract_end"] = date(2099, 12, 31)
    path = write_doc(tmp_path / "providers.yaml", doc)
    result = run(app, "sync", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output and "contract ended: jiuyue" in result.output

    listed = run(app, "list")
    assert listed.exit_code == 0, listed.output
    for text in ("anju", "安居开锁", "+8613805990302", "expired", "lock_change 150.00 (market"):
        assert text in listed.output, (text, listed.output)
    assert "4 provider(s)" in listed.output
    locks = run(app, "list", "--category", "lock")
    assert "2 provider(s)" in locks.output and "qingyuan" not in locks.output
    assert "no provider for 'moving' now" in run(app, "list", "--category", "moving").output

    first = run(app, "complain", "xinsheng", "--case", "MS-20261125-0001", "--note", "乱收费")
    assert first.exit_code == 0, first.output
    assert "1 within the last 365 days" in first.output and "not suspended" in first.output
    run(app, "complain", "xinsheng", "--note", "迟到两小时")
    third = run(app, "complain", "xinsheng", "--case", "MS-20261125-0003", "--note", "态度恶劣")
    assert third.exit_code == 0, third.output
    assert "xinsheng is now SUSPENDED (no further dispatch)" in third.output
    assert "3 complaints within 365 days" in third.output
    assert "MS-20261125-0003" in third.output and "(no case)" in third.output
    assert provider(db_session, "xinsheng").state is ProviderState.SUSPENDED
    assert "suspended" in run(app, "list").output
    assert "xinsheng" not in run(app, "list", "--category", "lock").output

    unknown = run(app, "complain", "nobody", "--note", "x")
    assert unknown.exit_code == 1 and "no provider 'nobody'" in unknown.output
    missing = run(app, "complain", "anju")
    assert missing.exit_code == 2 and "--note" in missing.output

    # the report: a fixed job in 2026
    _job(db_session, "anju", "lock_change", datetime(2026, 3, 3, tzinfo=UTC), True, 5)
    _job(db_session, "anju", "pipe_unblock", datetime(2026, 3, 4, tzinfo=UTC), False, 3)
    db_session.commit()
    table = run(app, "report", "--year", "2026")
    assert table.exit_code == 0, table.output
    line = next(x for x in table.output.splitlines() if x.startswith("anju "))
    assert line.split()[:8] == ["anju", "active", "2", "230.00", "50.0%", "4.00", "50.0%", "0"]
    as_csv = run(app, "report", "--year", "2026", "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(as_csv.output))}
    assert rows["anju"] == {
        "code": "anju",
        "name": "安居开锁",
        "state": "active",
        "jobs": "2",
        "amount_cny": "230.00",
        "on_time_rate": "0.5000",
        "satisfaction_avg": "4.00",
        "satisfaction_rate": "0.5000",
        "complaints": "0",
    }
    assert rows["qingyuan"]["on_time_rate"] == ""  # no figure rather than 0
    assert rows["xinsheng"]["state"] == "suspended"


def test_cli_sync_refuses_an_invalid_file(app: Flask, db_session: Session, tmp_path: Path) -> None:
    doc = providers_doc()
    doc["providers"][1]["prices"]["lock_change"]["price"] = 180
    path = write_doc(tmp_path / "providers.yaml", doc)
    result = run(app, "sync", "--file", str(path))
    assert result.exit_code == 1
    assert "providers[1] (安居开锁) prices.lock_change: 180.00 is above 85%" in result.output
    assert service.list_providers(db_session) == []
