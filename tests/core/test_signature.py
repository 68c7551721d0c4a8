"""Every Twilio-facing route checks X-Twilio-Signature against PUBLIC_BASE_URL."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent
from config.settings import Settings
from tests.support import TEST_AUTH_TOKEN, TwilioSigner, call_params, reason, twiml

ROUTES = ["/voice/incoming", "/voice/status"]


def nothing_written(session: Session) -> bool:
    calls = session.scalar(select(func.count()).select_from(Call))
    events = session.scalar(select(func.count()).select_from(CallEvent))
    return calls == 0 and events == 0


@pytest.mark.parametrize("route", ROUTES)
def test_unsigned_request_is_refused(
    client: FlaskClient, settings: Settings, db_session: Session, route: str
) -> None:
    response = client.post(route, data=call_params(settings))
    assert response.status_code == 403
    assert "X-Twilio-Signature" in reason(response)
    assert nothing_written(db_session)


@pytest.mark.parametrize("route", ROUTES)
def test_wrong_signature_is_refused_and_logged_without_the_token(
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    caplog.set_level(logging.INFO)
    forged = RequestValidator("some-other-token-entirely").compute_signature(
        settings.public_url(route), call_params(settings)
    )
    response = twilio.post(route, call_params(settings), signature=forged)
    assert response.status_code == 403
    assert reason(response) == "invalid Twilio signature"
    assert any("signature does not match" in r.getMessage() for r in caplog.records)
    assert all(TEST_AUTH_TOKEN not in r.getMessage() for r in caplog.records)
    assert nothing_written(db_session)


def test_tampered_parameters_are_refused(twilio: TwilioSigner, settings: Settings) -> None:
    params = call_params(settings)
    signature = twilio.signature("/voice/incoming", params)
    params["From"] = "+8613311112222"
    assert twilio.post("/voice/incoming", params, signature=signature).status_code == 403


def test_signature_for_another_url_is_refused(twilio: TwilioSigner, settings: Settings) -> None:
    params = call_params(settings)
    signature = twilio.signature("/voice/status", params)
    assert twilio.post("/voice/incoming", params, signature=signature).status_code == 403


def test_signature_over_the_internal_url_is_refused_behind_a_proxy(
    client: FlaskClient, settings: Settings
) -> None:
    # What a naive check against request.url would accept: the URL the app sees behind a
    # TLS-terminating proxy, not the public one Twilio signed.
    params = call_params(settings)
    internal = RequestValidator(TEST_AUTH_TOKEN).compute_signature(
        "http://localhost/voice/incoming", params
    )
    response = client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": internal})
    assert response.status_code == 403


def test_public_url_is_used_whatever_host_the_proxy_forwards(
    client: FlaskClient, settings: Settings
) -> None:
    params = call_params(settings)
    signature = RequestValidator(TEST_AUTH_TOKEN).compute_signature(
        settings.public_url("/voice/incoming"), params
    )
    response = client.post(
        "/voice/incoming",
        data=params,
        base_url="http://10.0.0.7:8000",
        headers={"X-Twilio-Signature": signature, "X-Forwarded-Proto": "http"},
    )
    twiml(response)


def test_query_string_is_part_of_the_signed_url(twilio: TwilioSigner, settings: Settings) -> None:
    params = call_params(settings)
    path = "/voice/incoming?lang=en&attempt=2"
    twiml(twilio.post(path, params))
    unsigned_query = twilio.signature("/voice/incoming", params)
    assert twilio.post(path, params, signature=unsigned_query).status_code == 403


def test_url_with_explicit_port_is_accepted(twilio: TwilioSigner, settings: Settings) -> None:
    # Twilio sometimes signs https://host:443/...; the validator tries both forms.
    params = call_params(settings)
    signature = RequestValidator(TEST_AUTH_TOKEN).compute_signature(
        "https://hotline.example.org:443/voice/incoming", params
    )
    twiml(twilio.post("/voice/incoming", params, signature=signature))


def test_hmac_sha256_signatures_are_checked_too(twilio: TwilioSigner, settings: Settings) -> None:
    params = call_params(settings)
    url = settings.public_url("/voice/incoming")
    good = RequestValidator(TEST_AUTH_TOKEN).compute_signature(url, params, "HMAC_SHA256")
    header = {"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256"}
    twiml(twilio.post("/voice/incoming", params, signature=good, headers=header))
    sha1 = RequestValidator(TEST_AUTH_TOKEN).compute_signature(url, params)
    assert twilio.post("/voice/incoming", params, signature=sha1, headers=header).status_code == 403


def test_an_unknown_signature_algorithm_is_refused_not_an_error(
    twilio: TwilioSigner, settings: Settings
) -> None:
    params = call_params(settings)
    url = settings.public_url("/voice/incoming")
    sha1 = RequestValidator(TEST_AUTH_TOKEN).compute_signature(url, params)
    header = {"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}
    response = twilio.post("/voice/incoming", params, signature=sha1, headers=header)
    assert response.status_code == 403
    assert response.get_json()["reason"] == "invalid Twilio signature"


def test_health_probes_need_no_signature(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_every_twilio_route_refuses_unsigned_and_forged_requests(
    app: Flask, client: FlaskClient, settings: Settings
) -> None:
    routes = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/voice/") and "POST" in (rule.methods or set())
    )
    assert len(routes) >= 14, routes  # incoming, status, ivr, route, cases, units, recordings
    forged = RequestValidator("not-the-token-at-all").compute_signature
    for route in routes:
        params = call_params(settings)
        assert client.post(route, data=params).status_code == 403, route
        signature = forged(settings.public_url(route), params)
        response = client.post(route, data=params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 403, route
