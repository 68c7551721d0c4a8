"""Whatever Twilio (or an attacker with a valid signature) sends, every IVR route answers
valid TwiML that keeps the caller with a person or a question — never a 500."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config.settings import Settings
from tests.support import TwilioSigner, call_params

absurd_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "NaN", "-inf", "1e309", "0.5.5", "٠٫٩", "  0.9  "]),
    st.text(max_size=12),
)
optional = {"Digits", "SpeechResult", "Confidence", "UnstableSpeechResult"}


@pytest.mark.parametrize(
    "route",
    [
        "/voice/incoming",
        "/voice/ivr/gather?step=0",
        "/voice/ivr/gather?step=1",
    ],
)
@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    digits=st.one_of(st.none(), st.text(max_size=40), st.text("0123456789*#", max_size=4000)),
    speech=st.one_of(st.none(), st.text(max_size=300)),
    confidence=st.one_of(st.none(), absurd_numbers),
    dial_status=st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["busy", "completed"])),
    drop=st.sets(st.sampled_from(["From", "To", "Direction"])),
)
def test_any_input_gets_valid_twiml_never_a_server_error(
    twilio: TwilioSigner,
    settings: Settings,
    route: str,
    digits: str | None,
    speech: str | None,
    confidence: str | None,
    dial_status: str | None,
    drop: set[str],
) -> None:
    params = call_params(settings, CallStatus="in-progress")
    for name, value in (
        ("Digits", digits),
        ("SpeechResult", speech),
        ("Confidence", confidence),
        ("DialCallStatus", dial_status),
    ):
        if value is not None:
            params[name] = value
    for name in drop:
        params.pop(name)
    response = twilio.post(route, params)
    if any("\x00" in v for v in params.values()):
        assert response.status_code == 400
        return
    assert response.status_code == 200, response.get_data(as_text=True)
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own output)
    assert root.tag == "Response"
    verbs = [el.tag for el in root]
    assert verbs, "an empty response would leave the caller in silence"
    assert set(verbs) <= {"Say", "Gather", "Redirect", "Dial", "Record", "Hangup"}
    spoken = " ".join((el.text or "") for el in root.iter("Say"))
    assert "系统繁忙" not in spoken, "handled by the IVR, not by the error handler's apology"
    if "Hangup" in verbs:
        # Only after a caller chose the status line (8) and heard it: nobody in need is cut off.
        assert (digits or "").strip().startswith("8"), verbs
