"""What every request gets, whatever its route: a bounded body and security headers."""

from __future__ import annotations

import dataclasses
import io
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import MAX_BODY_BYTES
from cases.models import Case
from config.settings import Environment, Settings
from tests.support import TwilioSigner, app_in_transaction, call_params, twiml


def _chunked(client: FlaskClient, path: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    """POST `body` as a chunked request: no Content-Length, as a real client streams it."""
    response = client.post(
        path,
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/x-www-form-urlencoded",
            **headers,
        },
        environ_overrides={"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    return response.status_code, response.get_data()


def test_a_chunked_body_over_the_limit_is_refused_not_truncated(
    client: FlaskClient, db_session: Session
) -> None:
    body = urlencode({"service_code": "city_management", "description": "x" * MAX_BODY_BYTES})
    status, answer = _chunked(client, "/open311/v2/requests.json", body.encode())
    assert status == 413
    assert b"larger than" in answer
    assert db_session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_small_chunked_webhook_is_read_whole(twilio: TwilioSigner, settings: Settings) -> None:
    params = call_params(settings)
    signature = twilio.signature("/voice/incoming", params)
    status, answer = _chunked(
        twilio.client,
        "/voice/incoming",
        urlencode(params).encode(),
        **{"X-Twilio-Signature": signature},
    )
    assert status == 200
    assert b"<Gather" in answer


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/v1/openapi.json", "/open311/v2/services.json", "/nowhere"]
)
def test_every_response_has_the_security_headers(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers, "HSTS only in production (HTTPS)"


def test_twiml_answers_have_them_too(twilio: TwilioSigner, settings: Settings) -> None:
    response = twilio.post("/voice/incoming", call_params(settings))
    twiml(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_console_keeps_its_own_policy(client: FlaskClient) -> None:
    policy = client.get("/console/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy


def test_production_answers_carry_hsts(settings: Settings) -> None:
    production = dataclasses.replace(
        settings,
        env=Environment.PRODUCTION,
        secret_key="a-real-looking-secret-key-value",
        hotline_number="+8613900139110",
        service_desk_number="+8613900139001",
    )
    with app_in_transaction(production) as app:
        assert isinstance(app, Flask)
        headers = app.test_client().get("/healthz").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_405_says_which_methods_are_allowed(client: FlaskClient) -> None:
    response = client.get("/voice/incoming")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
