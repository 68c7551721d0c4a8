"""Test helpers: requests signed exactly as Twilio signs them, TwiML parsing, factories, the
settings and apps of tests, and the TwiML check tests/conftest.py runs on every response.

The package's modules hold what several test modules share: `staff` (users, logins, tokens),
`prism` (the `prism` fixture: Twilio's REST API mocked from its OpenAPI spec), `routing` (a
roster and a caller through the bridge), `recordings` (a stand-in for Twilio's recording media)
and `surveys` (survey calls). The modules that define fixtures are plugins of tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from app import create_app
from config.settings import Environment, Settings
from core import twiml_contract
from core.db import database

CALLER = "+8613800138000"
#: Numbers a client may send that are not ASCII whole numbers in range (Python reads several of
#: them as digits: "²".isdigit(), int("５")).
GARBLED_NUMBERS = ["²", "٣", "５", "-1", "1e3", "99999999999999999999"]
#: Dates that are malformed, absurd or out of range.
GARBLED_DAYS = [*GARBLED_NUMBERS, "0001-01-01", "9999-12-31", "２０２６-11-01", "20261101"]
TEST_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://hotline.example.org"


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "twilio_auth_token": TEST_AUTH_TOKEN,
        "public_base_url": PUBLIC_BASE_URL,
        "recordings_dir": tmp_path / "recordings",
        "spool_dir": tmp_path / "spool",
        "fallback_number": "+8613900139000",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.contextmanager
def app_in_transaction(settings: Settings) -> Iterator[Flask]:
    """An app on `settings` whose sessions join one transaction, rolled back at the end."""
    app = create_app(settings)
    db = database(app)
    connection = db.engine.connect()
    transaction = connection.begin()
    db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield app
    finally:
        transaction.rollback()
        connection.close()
        db.engine.dispose()


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
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def dialed_numbers(root: ET.Element) -> list[str]:
    """The numbers a response's <Dial> rings."""
    dial = root.find("Dial")
    assert dial is not None, ET.tostring(root, encoding="unicode")
    numbers = [(n.text or "").strip() for n in dial.iter("Number")]
    return numbers or [(dial.text or "").strip()]


# --- the TwiML check (tests/conftest.py runs it on every response) ------------------------------

#: Paths whose TwiML runs on the officer's leg of a bridge (`<Number url>`), where Twilio does not
#: allow `<Dial>` (twilio.com/docs/voice/twiml/number).
OFFICER_LEG_PATHS = frozenset({"/voice/route/screen", "/voice/route/accept"})
#: Where Twilio's webhooks live: anything XML answered there must be TwiML.
TWILIO_PATHS = "/voice/"
_XML_MIMETYPES = frozenset({"text/xml", "application/xml"})


def _root_is_response(body: bytes) -> bool:
    try:
        return ET.fromstring(body).tag == twiml_contract.ROOT_TAG  # noqa: S314 (our app's)
    except ET.ParseError:
        return False


def twiml_problems(path: str, response: Response) -> list[str]:
    """The contract violations of a response's TwiML; empty when it is valid or not TwiML."""
    if response.is_streamed or response.direct_passthrough:
        return []  # files and streams: reading them here would consume them
    body = response.get_data()
    if response.mimetype not in _XML_MIMETYPES and not body.lstrip().startswith(b"<?xml"):
        return []
    # Other XML (Open311's GeoReport documents) is not TwiML; under /voice/ everything XML is.
    if not path.startswith(TWILIO_PATHS) and not _root_is_response(body):
        return []
    return twiml_contract.violations(body, officer_leg=path in OFFICER_LEG_PATHS)
