"""Bad input to every webhook: a clear 4xx with a reason, never a 500, nothing written."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calls.models import Call, CallEvent
from config.settings import Settings
from tests.support import GARBLED_NUMBERS, TwilioSigner, call_params, reason

ROUTES = ["/voice/incoming", "/voice/status"]


def counts(session: Session) -> tuple[int | None, int | None]:
    return (
        session.scalar(select(func.count()).select_from(Call)),
        session.scalar(select(func.count()).select_from(CallEvent)),
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"CallSid": ""}, "CallSid: missing"),
        ({"CallSid": "CA123"}, "CallSid: expected"),
        ({"CallSid": "CA" + "g" * 32}, "CallSid: expected"),
        ({"CallSid": "'; DROP TABLE calls; --"}, "CallSid: expected"),
        ({"AccountSid": ""}, "AccountSid: missing"),
        ({"AccountSid": "AC" + "f" * 32}, "AccountSid: not this hotline"),
        ({"CallStatus": ""}, "CallStatus: missing"),
        ({"CallStatus": "exploded"}, "CallStatus: 'exploded' is not one of"),
        ({"Direction": "sideways"}, "Direction: 'sideways' is not one of"),
        ({"From": "+86" + "1" * 80}, "From: longer than"),
        ({"CallDuration": "-5"}, "CallDuration: expected"),
        ({"CallDuration": "٣"}, "CallDuration: expected"),
        ({"ParentCallSid": "nope"}, "ParentCallSid: expected"),
    ],
)
def test_malformed_parameters_are_refused_with_a_reason(
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    route: str,
    change: dict[str, str],
    expected: str,
) -> None:
    params = call_params(settings)
    params.update(change)
    response = twilio.post(route, params)
    assert response.status_code == 400
    assert response.json is not None
    assert reason(response).startswith(expected)
    assert counts(db_session) == (0, 0)


def signed_raw(twilio: TwilioSigner, route: str, body: bytes, **headers: str) -> dict[str, str]:
    # The signature is right for the parameters the body claims to carry, so the refusal is
    # about the body itself, not the signature.
    return {"X-Twilio-Signature": twilio.signature(route, {}), **headers}


@pytest.mark.parametrize("route", ROUTES)
def test_non_utf8_body_is_refused(
    client: FlaskClient, twilio: TwilioSigner, db_session: Session, route: str
) -> None:
    body = b"CallSid=CA%FF%FE&From=%C3%28"
    response = client.post(
        route,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=signed_raw(twilio, route, body),
    )
    assert response.status_code == 400
    assert "UTF-8" in reason(response)
    assert counts(db_session) == (0, 0)


@pytest.mark.parametrize("route", ROUTES)
def test_nul_character_is_refused(
    client: FlaskClient, twilio: TwilioSigner, settings: Settings, db_session: Session, route: str
) -> None:
    params = call_params(settings, CallerName="evil\x00name")
    response = twilio.post(route, params)
    assert response.status_code == 400
    assert "NUL" in reason(response)
    assert counts(db_session) == (0, 0)


@pytest.mark.parametrize("route", ROUTES)
def test_huge_body_is_refused_before_parsing(
    client: FlaskClient, twilio: TwilioSigner, db_session: Session, route: str
) -> None:
    body = b"CallSid=" + b"A" * (200 * 1024)
    response = client.post(
        route,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=signed_raw(twilio, route, body),
    )
    assert response.status_code == 413
    assert counts(db_session) == (0, 0)


@pytest.mark.parametrize("route", ROUTES)
def test_thousands_of_fields_are_refused(
    client: FlaskClient, twilio: TwilioSigner, db_session: Session, route: str
) -> None:
    body = "&".join(f"F{i}=1" for i in range(1000)).encode()
    response = client.post(
        route,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=signed_raw(twilio, route, body),
    )
    assert response.status_code == 400
    assert "too many form fields" in reason(response)


@pytest.mark.parametrize("route", ROUTES)
def test_json_body_is_refused(client: FlaskClient, twilio: TwilioSigner, route: str) -> None:
    response = client.post(route, json={"CallSid": "x"}, headers=signed_raw(twilio, route, b""))
    assert response.status_code == 415


@pytest.mark.parametrize("route", ROUTES)
def test_get_is_not_allowed(client: FlaskClient, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 405
    assert response.json is not None and reason(response)


def test_unknown_route_is_a_json_404(client: FlaskClient) -> None:
    response = client.post("/voice/nowhere")
    assert response.status_code == 404
    assert response.json is not None and response.json["error"] == "Not Found"


field_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "ringing", "completed", "inbound", "+8613800138000", "anonymous"]),
)


@pytest.mark.parametrize("route", ROUTES)
@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    overrides=st.dictionaries(
        st.sampled_from(
            ["CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "CallDuration"]
        ),
        field_values,
    ),
    drop=st.sets(st.sampled_from(["CallSid", "AccountSid", "CallStatus", "From", "To"])),
)
def test_arbitrary_parameters_never_cause_a_server_error(
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    route: str,
    overrides: dict[str, str],
    drop: set[str],
) -> None:
    params = call_params(settings)
    params.update(overrides)
    for name in drop:
        params.pop(name, None)
    before = counts(db_session)
    response = twilio.post(route, params)
    assert response.status_code in {200, 204, 400}, response.get_data(as_text=True)
    after = counts(db_session)
    if response.status_code == 400:
        assert after == before, "a refused webhook wrote nothing"
    else:
        assert after[1] == (before[1] or 0) + 1, "an accepted webhook is logged once"


#: What Python's int() or str.isdigit() take for a number and a public interface must not: a
#: superscript, Arabic-Indic and full-width digits, a sign, an exponent, a 20-digit number.
GARBLED = GARBLED_NUMBERS


def _bridge_query(**values: str) -> str:
    query = {"route": "fire", "at": str(int(time.time())), "step": "0", **values}
    return urlencode(query)


@pytest.mark.parametrize("value", GARBLED)
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/voice/ivr/gather?{step}", "step: must be a whole number"),
        ("/voice/route/dialed?{bridge_step}", "step: must be a whole number"),
        ("/voice/route/dialed?{bridge_at}", "at: must be a whole number"),
        ("/voice/route/screen?{bridge_step}", "step: must be a whole number"),
        ("/voice/route/accept?{bridge_step}", "step: must be a whole number"),
    ],
)
def test_garbled_numbers_in_a_webhook_url_are_a_400(
    twilio: TwilioSigner, settings: Settings, path: str, expected: str, value: str
) -> None:
    url = path.format(
        step=urlencode({"step": value}),
        bridge_step=_bridge_query(step=value),
        bridge_at=_bridge_query(at=value),
    )
    response = twilio.post(url, call_params(settings, DialCallStatus="no-answer"))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert reason(response).startswith(expected)


@pytest.mark.parametrize("value", GARBLED)
def test_a_garbled_call_duration_is_refused(
    twilio: TwilioSigner, settings: Settings, db_session: Session, value: str
) -> None:
    response = twilio.post("/voice/status", call_params(settings, CallDuration=value))
    assert response.status_code == 400
    assert reason(response).startswith("CallDuration: expected")
    assert counts(db_session) == (0, 0)


@pytest.mark.parametrize("value", GARBLED)
@pytest.mark.parametrize("name", ["v", "DialCallDuration"])
def test_garbled_optional_numbers_of_a_bridge_are_ignored(
    twilio: TwilioSigner, settings: Settings, name: str, value: str
) -> None:
    at = str(int(time.time()))  # one bridge for both calls: the answers may carry it

    def dialed(garbled: str) -> tuple[int, bytes]:
        params = call_params(settings, DialCallStatus="no-answer")
        query = _bridge_query(at=at, v="0")
        if name == "v":
            query = _bridge_query(at=at, v=garbled)
        else:
            params[name] = garbled
        response = twilio.post(f"/voice/route/dialed?{query}", params)
        return response.status_code, response.get_data()

    garbled, plain = dialed(value), dialed("0")
    assert garbled[0] < 500
    assert garbled == plain, "a garbled optional number is ignored: the same answer"


@pytest.mark.parametrize("value", GARBLED)
def test_a_garbled_message_id_of_a_delivery_report_is_ignored(
    twilio: TwilioSigner, settings: Settings, value: str
) -> None:
    sid = "SM" + "0" * 32
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.twilio_account_sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "From": settings.hotline_number,
        "To": "+8613800138000",
        "ApiVersion": "2010-04-01",
    }
    response = twilio.post(f"/voice/sms-status?{urlencode({'m': value})}", params)
    assert response.status_code == 200, "an unknown message: nothing to record, not an error"
