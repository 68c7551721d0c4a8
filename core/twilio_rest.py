"""Twilio's REST API, pointed at TWILIO_API_BASE_URL when set (a local mock in tests)."""

from __future__ import annotations

from twilio.rest import Client

from config.settings import Settings


def client(settings: Settings) -> Client:
    """A Twilio client with the account's credentials (and the configured API base URL)."""
    rest = Client(settings.twilio_account_sid, settings.twilio_auth_token)
    if settings.twilio_api_base_url:
        rest.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return rest
