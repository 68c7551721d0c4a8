"""Twilio's REST API, pointed at TWILIO_API_BASE_URL when set (a local mock in tests)."""

from __future__ import annotations

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import Settings

#: Seconds to wait for Twilio's API: the library's default is to wait forever, which would hold
#: a job worker (and its lease) hostage to one stuck connection.
TIMEOUT_S = 10.0


def client(settings: Settings) -> Client:
    """A Twilio client with the account's credentials (and the configured API base URL)."""
    rest = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=TwilioHttpClient(timeout=TIMEOUT_S),
    )
    if settings.twilio_api_base_url:
        rest.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return rest
