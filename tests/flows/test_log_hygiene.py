"""What the logs may not hold: a caller's full number, the auth token, a PIN, a staff password or
an API token — checked over whole calls (emergency, service request, a forged webhook, the unit
line with its PIN) and over the console's login and the API, at DEBUG level."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from staff.models import Role
from tests.support import PUBLIC_BASE_URL, TEST_AUTH_TOKEN
from tests.support.staff import PASSWORD, add_user, bearer, login, token_for
from tools.softphone import FlaskTransport, Softphone

CALLER = "+8613912345678"
UNIT_CONTACT = "+8613805990702"  # city_management's duty contact in config/units.yaml
PIN = "1002"


def run_call(app: Flask, settings: Settings, caller: str, inputs: list[str], to: str) -> None:
    Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=PUBLIC_BASE_URL,
        auth_token=TEST_AUTH_TOKEN,
        account_sid=settings.twilio_account_sid,
        from_number=caller,
        to_number=to,
        inputs=inputs,
        output_func=lambda _line: None,
        incoming_path="/voice/units/incoming" if to == "unit-line" else "/voice/incoming",
    ).run()


def test_no_caller_number_or_secret_reaches_the_logs(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = token_for(db_session, add_user(db_session, "li", Role.ADMIN))
    run_call(app, settings, CALLER, ["1"], settings.hotline_number)
    run_call(app, settings, CALLER, ["2", "路灯坏了"], settings.hotline_number)
    forged = client.post(
        "/voice/incoming",
        data={"CallSid": "CA" + "1" * 32, "From": CALLER},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert forged.status_code == 403
    run_call(app, settings, UNIT_CONTACT, ["12345678", PIN + "#", "hangup"], "unit-line")
    login(client, "li", "a wrong password")
    login(client, "li")
    client.get("/api/v1/cases", headers=bearer(token))

    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "call CA" in logged, "the calls were logged (this test reads real log lines)"
    assert "+86*********78" in logged, "the caller appears, masked"
    for secret in (CALLER, CALLER[1:], UNIT_CONTACT, TEST_AUTH_TOKEN, PASSWORD, token):
        assert secret not in logged, f"{secret[:4]}… appears in a log line"
    assert f"PIN {PIN}" not in logged and f"'{PIN}#'" not in logged
