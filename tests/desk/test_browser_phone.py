"""The desk page's browser softphone, as far as it can be tested here: the access tokens the app
issues (signed with the API key, for the call-taker's identity, with a VoiceGrant), the page up
to Twilio's SDK (served by the app, the package's own bytes), and the policy that lets the SDK
reach Twilio from that page only. A browser's registration with Twilio itself needs Twilio's
servers, which this machine cannot reach."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import tomllib
from pathlib import Path

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings, SettingsError
from staff.models import Role
from tests.support import make_settings
from tests.support.prism import unavailable
from tests.support.staff import add_user, login

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "console" / "static" / "vendor"
KEY_SID = "SK" + "a" * 32
KEY_SECRET = "s3cr3t-of-the-api-key-0123456789"  # Twilio's are 32 characters
APP_SID = "AP" + "b" * 32


def test_the_vendored_sdk_is_the_pinned_packages_own_bytes() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@twilio/voice-sdk"]
    installed = ROOT / "node_modules" / "@twilio" / "voice-sdk"
    if not (installed / "package.json").is_file():
        unavailable("node_modules/@twilio/voice-sdk is missing (run `make install`)")
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    assert (VENDOR / "twilio-voice.min.js").read_bytes() == (
        installed / "dist" / "twilio.min.js"
    ).read_bytes()
    notice = (VENDOR / "SOURCE.md").read_text()
    assert f"version **{pinned}**" in notice and "Apache-2.0" in notice
    assert "Twilio" in (VENDOR / "LICENSE-twilio-voice-sdk.md").read_text()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["console"]
    assert any(fnmatch.fnmatch("static/vendor/twilio-voice.min.js", p) for p in patterns)


@pytest.fixture
def phone_app(app: Flask, settings: Settings) -> Flask:
    app.extensions["hotline.settings"] = dataclasses.replace(
        settings,
        twilio_api_key_sid=KEY_SID,
        twilio_api_key_secret=KEY_SECRET,
        twilio_twiml_app_sid=APP_SID,
    )
    return app


def test_a_call_taker_gets_a_signed_token_for_their_own_identity(
    phone_app: Flask, db_session: Session, settings: Settings
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    client = phone_app.test_client()
    login(client, "li")
    response = client.get("/console/desk/token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert (body["identity"], body["ttl_s"]) == ("li", 3600)
    claims = jwt.decode(body["token"], KEY_SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == (KEY_SID, settings.twilio_account_sid)
    assert claims["exp"] - claims["nbf"] <= 3600 + 60
    grants = claims["grants"]
    assert grants["identity"] == "li"
    assert grants["voice"]["incoming"] == {"allow": True}
    assert grants["voice"]["outgoing"]["application_sid"] == APP_SID
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["token"], "x" * 32, algorithms=["HS256"])


def test_without_configuration_the_token_is_refused_with_the_reason(
    client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    response = client.get("/console/desk/token")
    assert response.status_code == 503
    assert "TWILIO_API_KEY_SID" in response.get_json()["reason"]
    page = client.get("/console/desk?lang=zh").get_data(as_text=True)
    assert "浏览器电话尚未配置" in page and "twilio-voice.min.js" not in page, "no SDK to load"


def test_the_page_loads_the_sdk_from_the_app_and_lets_it_reach_twilio_only_there(
    phone_app: Flask, db_session: Session
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    client = phone_app.test_client()
    login(client, "li")
    page = client.get("/console/desk?lang=zh")
    html = page.get_data(as_text=True)
    assert '<script src="/console/static/vendor/twilio-voice.min.js"></script>' in html
    assert '<script src="/console/static/desk.js"></script>' in html
    assert "client:li" in html, "the desk phone to sign in with"
    assert "wss://*.twilio.com" in page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in page.headers["Content-Security-Policy"], "no script from afar"
    sdk = client.get("/console/static/vendor/twilio-voice.min.js")
    assert sdk.status_code == 200 and sdk.mimetype in ("text/javascript", "application/javascript")
    sdk.close()
    board = client.get("/console/board")
    assert "twilio.com" not in board.headers["Content-Security-Policy"], "the desk page only"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("twilio_api_key_sid", "SK123"),
        ("twilio_twiml_app_sid", "not-an-app"),
        ("twilio_api_key_secret", "short"),
    ],
)
def test_a_malformed_sid_stops_start_up(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(SettingsError, match=field.upper()):
        make_settings(
            "sqlite:///x.db",
            tmp_path,
            **{"twilio_api_key_sid": KEY_SID, "twilio_api_key_secret": KEY_SECRET, field: value},
        )
