"""Rate limits: a client over its limit gets 429 with Retry-After; others are not affected, and
Twilio's webhooks never are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request
from sqlalchemy import func, select

from cases.models import Case
from config.settings import Settings, SettingsError
from core import db
from staff.models import Role
from tests.support import TwilioSigner, app_in_transaction, call_params, make_settings
from tests.support.staff import add_user, bearer, csrf_of, open_case, token_for

FORM = {
    "service_code": "city_management",
    "lat": "27.3375",
    "long": "117.4921",
    "description": "中山路口的路灯一直不亮",
    "phone": "13800138000",
}
OPEN311 = "/open311/v2/requests.json"


@pytest.fixture
def limited_settings(migrated_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        migrated_url,
        tmp_path,
        rate_limit_open311_key="3 per minute",
        rate_limit_open311_address="5 per minute",
        rate_limit_api_writes="2 per minute",
        rate_limit_login="2 per minute",
    )


@pytest.fixture
def limited_app(limited_settings: Settings) -> Iterator[Flask]:
    with app_in_transaction(limited_settings) as app, app.app_context():
        yield app


def _key(name: str, role: Role = Role.CLIENT) -> str:
    session = db.session()
    return token_for(session, add_user(session, name, role))


def test_one_open311_key_is_stopped_with_429_and_retry_after(limited_app: Flask) -> None:
    key, other = _key("city-app"), _key("other-app")
    client = limited_app.test_client()
    statuses = [client.post(OPEN311, data={**FORM, "api_key": key}).status_code for _ in range(3)]
    refused = client.post(OPEN311, data={**FORM, "api_key": key})

    assert statuses == [201, 201, 201]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    ((error),) = refused.get_json()  # Open311's own error list
    assert error["code"] == 429
    assert "3 per 1 minute" in error["description"]
    assert client.post(OPEN311, data={**FORM, "api_key": other}).status_code == 201
    assert db.session().scalar(select(func.count()).select_from(Case)) == 4, "nothing half-done"


def test_one_address_is_stopped_whatever_keys_it_uses(limited_app: Flask) -> None:
    keys = [_key(f"app-{n}") for n in range(3)]
    client = limited_app.test_client()
    statuses = [
        client.post(OPEN311, data={**FORM, "api_key": keys[i % 3]}).status_code for i in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    elsewhere = client.post(
        OPEN311, data={**FORM, "api_key": keys[0]}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert elsewhere.status_code == 201


def test_api_writes_are_limited_per_token_and_reads_are_not(limited_app: Flask) -> None:
    token = _key("dispatch-tool", Role.DISPATCHER)
    number = open_case(limited_app, db.session())
    client = limited_app.test_client()
    url = f"/api/v1/cases/{number}/actions"
    writes = [
        client.post(url, json={"action": "dispatch", "unit": "water_supply"}, headers=bearer(token))
        for _ in range(3)
    ]
    assert [w.status_code < 429 for w in writes] == [True, True, False]
    assert writes[2].status_code == 429
    reads = [client.get("/api/v1/cases", headers=bearer(token)).status_code for _ in range(5)]
    assert reads == [200] * 5


def test_console_logins_are_limited_per_address_not_per_account(limited_app: Flask) -> None:
    add_user(db.session(), "disp", Role.DISPATCHER)
    db.session().commit()
    client = limited_app.test_client()
    tries = [
        client.post(
            "/console/login",
            data={"username": "disp", "password": "wrong-password!", "csrf": csrf_of(client)},
        ).status_code
        for _ in range(3)
    ]
    assert tries[-1] == 429
    other = limited_app.test_client()
    answer = other.post(
        "/console/login",
        data={"username": "disp", "password": "wrong-password!", "csrf": csrf_of(other)},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
    )
    assert answer.status_code == 401, "another address still gets its own tries"


def test_twilio_webhooks_are_never_limited(limited_settings: Settings) -> None:
    with app_in_transaction(limited_settings) as app:
        twilio = TwilioSigner(app.test_client(), limited_settings)
        statuses = [
            twilio.post("/voice/incoming", call_params(limited_settings)).status_code
            for _ in range(8)
        ]
    assert statuses == [200] * 8


def test_the_limiter_does_not_even_look_at_a_webhook(limited_settings: Settings) -> None:
    """Its request hook resolves a request's limits before it finds none: it is skipped for
    Twilio's webhooks (their CPU), and still runs for everything else."""
    with app_in_transaction(limited_settings) as app:
        looked_at: list[str] = []

        @app.extensions["hotline.limiter"].request_filter
        def _record() -> bool:
            looked_at.append(request.path)
            return False

        client = app.test_client()
        assert (
            TwilioSigner(client, limited_settings)
            .post("/voice/incoming", call_params(limited_settings))
            .status_code
            == 200
        )
        assert looked_at == []
        client.post("/console/login", data={"username": "nobody", "password": "x"})
    assert looked_at == ["/console/login"]


def test_a_limit_that_does_not_parse_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_LOGIN"):
        Settings.from_env({"RATE_LIMIT_LOGIN": "lots", "SPOOL_DIR": str(tmp_path)})
