"""Our calls to Twilio's REST API against Twilio's OpenAPI spec, served by Stoplight Prism.

Prism (`--errors`) answers a request the spec allows with a mock record, and one it forbids with
422 (401 without credentials). The spec encodes types, enums, formats, path patterns and required
parameters, not Twilio's cross-field rules: a call with neither Url, Twiml nor ApplicationSid is
accepted here although Twilio refuses it, so those rules stay the job of our own tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from config.settings import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, Settings
from core import sms, twilio_rest
from tests.support import CALLER, PUBLIC_BASE_URL, TEST_AUTH_TOKEN, make_settings
from tests.support.prism import widen_form_arrays

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
HOTLINE = "+865996110110"
ANSWER_URL = f"{PUBLIC_BASE_URL}/voice/survey/answer?case=1"
STATUS_URL = f"{PUBLIC_BASE_URL}/voice/status"


def rest_client(base_url: str, account_sid: str = ACCOUNT_SID) -> Client:
    client = Client(account_sid, TEST_AUTH_TOKEN)
    client.api.base_url = base_url
    return client


def test_message_is_accepted(prism: str) -> None:
    message = rest_client(prism).messages.create(to=CALLER, from_=HOTLINE, body="您的诉求已受理。")

    assert type(message).__name__ == "MessageInstance"
    assert message.sid.startswith("SM")


def test_survey_call_is_accepted(prism: str) -> None:
    call = rest_client(prism).calls.create(
        to=CALLER,
        from_=HOTLINE,
        url=ANSWER_URL,
        status_callback=STATUS_URL,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
        async_amd="true",
        async_amd_status_callback=f"{PUBLIC_BASE_URL}/voice/survey/amd?s=1&a=1",
        async_amd_status_callback_method="POST",
        time_limit=300,
        byoc="BY" + "0" * 32,
        timeout=25,
    )

    assert type(call).__name__ == "CallInstance"
    assert call.sid.startswith("CA")


@pytest.mark.parametrize(
    "mistake",
    [
        pytest.param({"url": "/voice/survey/answer?case=1"}, id="relative-url"),
        pytest.param({"url": ANSWER_URL, "method": "PUT"}, id="method-not-get-or-post"),
        pytest.param(
            {"url": ANSWER_URL, "status_callback": STATUS_URL, "status_callback_method": "PATCH"},
            id="status-callback-method-not-get-or-post",
        ),
        pytest.param({"url": ANSWER_URL, "timeout": "25s"}, id="timeout-not-an-integer"),
    ],
)
def test_call_that_violates_the_spec_is_rejected(prism: str, mistake: dict[str, Any]) -> None:
    with pytest.raises(TwilioRestException) as error:
        rest_client(prism).calls.create(to=CALLER, from_=HOTLINE, **mistake)

    assert error.value.status == 422


def test_malformed_account_sid_is_rejected(prism: str) -> None:
    client = rest_client(prism, account_sid="AC-not-an-account-sid")

    with pytest.raises(TwilioRestException) as error:
        client.messages.create(to=CALLER, from_=HOTLINE, body="x")

    assert error.value.status == 422


def test_sms_job_sends_through_the_api(
    prism: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path, twilio_api_base_url=prism)
    responses: list[tuple[str, str, int]] = []
    real_client = twilio_rest.client

    def recording_client(settings: Settings) -> Client:
        client = real_client(settings)
        request: Callable[..., Any] = client.http_client.request

        def recorded(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            response = request(method, url, *args, **kwargs)
            responses.append((method, url, response.status_code))
            return response

        client.http_client.request = recorded
        return client

    monkeypatch.setattr(twilio_rest, "client", recording_client)

    sms.send(Session(), {"to": CALLER, "body": "您的诉求已受理。"}, settings)

    path = f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
    assert responses == [("POST", f"{prism}{path}", 201)]


def test_only_form_arrays_are_widened_for_prism() -> None:
    item = {"type": "string", "format": "uri"}
    events = {"type": "array", "items": {"type": "string"}}
    form = {"schema": {"properties": {"MediaUrl": {"type": "array", "items": item}, "To": item}}}
    spec: dict[str, Any] = {
        "paths": {
            "/Messages.json": {
                "parameters": [],
                "post": {"requestBody": {"content": {"application/x-www-form-urlencoded": form}}},
            },
            "/Echo.json": {
                "post": {"requestBody": {"content": {"application/json": {"schema": events}}}}
            },
        }
    }

    assert widen_form_arrays(spec) == ["POST /Messages.json MediaUrl"]
    assert form["schema"]["properties"] == {
        "MediaUrl": {"anyOf": [{"type": "array", "items": item}, item]},
        "To": item,
    }


REAL_SID = "AC" + "fedcba9876543210" * 2
REAL_TOKEN = "a-real-looking-auth-token-0123"
PLACEHOLDERS = {"twilio_account_sid": DEV_ACCOUNT_SID, "twilio_auth_token": DEV_AUTH_TOKEN}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, False, id="development-placeholders"),
        pytest.param({"twilio_auth_token": REAL_TOKEN}, True, id="a-token-of-its-own"),
        pytest.param({"twilio_account_sid": REAL_SID}, True, id="an-account-of-its-own"),
        pytest.param(
            {"twilio_account_sid": REAL_SID, "twilio_auth_token": REAL_TOKEN}, True, id="real"
        ),
        pytest.param({"twilio_api_base_url": "http://127.0.0.1:4010"}, True, id="mock-url"),
    ],
)
def test_configured_needs_a_base_url_or_credentials(
    tmp_path: Path, overrides: dict[str, Any], expected: bool
) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path, **{**PLACEHOLDERS, **overrides})

    assert twilio_rest.configured(settings) is expected


def test_the_test_suites_settings_count_as_configured(tmp_path: Path) -> None:
    # The suite's settings carry a test token: jobs that text or call are queued in tests.
    assert twilio_rest.configured(make_settings("sqlite:///unused.db", tmp_path))


def test_client_refuses_the_development_placeholders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    monkeypatch.setattr(twilio_rest, "Client", lambda *a, **k: built.append(a))
    settings = make_settings("sqlite:///unused.db", tmp_path, **PLACEHOLDERS)

    with (
        caplog.at_level(logging.WARNING, logger="core.twilio_rest"),
        pytest.raises(twilio_rest.TwilioNotConfigured) as error,
    ):
        twilio_rest.client(settings)

    assert isinstance(error.value, RuntimeError)
    assert str(error.value) == (
        "Twilio REST is not configured: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are the development "
        "placeholders and TWILIO_API_BASE_URL is unset (make run starts a local mock)"
    )
    warnings = [r for r in caplog.records if r.name == "core.twilio_rest"]
    assert [(r.levelno, r.getMessage()) for r in warnings] == [(logging.WARNING, str(error.value))]
    assert built == [], "no client was even built"


def test_the_placeholders_with_a_base_url_go_to_that_url(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite:///unused.db",
        tmp_path,
        **PLACEHOLDERS,
        twilio_api_base_url="http://127.0.0.1:4010/",
    )

    assert twilio_rest.client(settings).api.base_url == "http://127.0.0.1:4010"


def test_client_with_credentials_goes_to_twilio(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite:///unused.db", tmp_path, twilio_account_sid=REAL_SID, twilio_auth_token=REAL_TOKEN
    )

    client = twilio_rest.client(settings)

    assert (client.username, client.api.base_url) == (REAL_SID, "https://api.twilio.com")
