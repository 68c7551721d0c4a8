"""Test helpers: requests signed exactly as Twilio signs them, TwiML parsing, factories."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from config.settings import Settings

CALLER = "+8613800138000"


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def call_params(settings: Settings, **overrides: str) -> dict[str, str]:
    """The parameters Twilio posts for an inbound call to the hotline number."""
    params = {
        "CallSid": new_call_sid(),
        "AccountSid": settings.twilio_account_sid,
        "From": CALLER,
        "To": settings.hotline_number,
        "Caller": CALLER,
        "Called": settings.hotline_number,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromCountry": "CN",
        "ToCountry": "CN",
    }
    params.update(overrides)
    return params


class TwilioSigner:
    """Posts to the app the way Twilio does: form-encoded and signed with the auth token."""

    def __init__(self, client: FlaskClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.validator = RequestValidator(settings.twilio_auth_token)

    def signature(self, path: str, params: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
        """The X-Twilio-Signature for `path` (with any query) as Twilio computes it."""
        url = self.settings.public_url(path)
        if isinstance(params, Mapping):
            return str(self.validator.compute_signature(url, params))
        from werkzeug.datastructures import MultiDict

        return str(self.validator.compute_signature(url, MultiDict(params)))

    def post(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TestResponse:
        all_headers = {"X-Twilio-Signature": signature or self.signature(path, params)}
        all_headers.update(headers or {})
        return self.client.post(path, data=dict(params), headers=all_headers)


def twiml(response: TestResponse) -> ET.Element:
    """The parsed TwiML document of a response, checked to be TwiML."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own output)
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> list[tuple[str | None, str]]:
    """What the caller hears: every <Say> as (language, text), in order."""
    return [(el.get("language"), (el.text or "").strip()) for el in root.iter("Say")]


def reason(response: TestResponse) -> str:
    """The `reason` of a JSON error response."""
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data(as_text=True)
    return str(body["reason"])


def gather_of(root: ET.Element) -> ET.Element:
    """The <Gather> of a response that asks the caller something."""
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root, encoding="unicode")
    return gather


def path_of(url: str) -> str:
    """The path and query of an absolute URL from TwiML, as the test client wants it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def dialed_numbers(root: ET.Element) -> list[str]:
    """The numbers a response's <Dial> rings."""
    dial = root.find("Dial")
    assert dial is not None, ET.tostring(root, encoding="unicode")
    numbers = [(n.text or "").strip() for n in dial.iter("Number")]
    return numbers or [(dial.text or "").strip()]
