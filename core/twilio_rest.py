"""Twilio's REST API, pointed at TWILIO_API_BASE_URL when set (a local mock in tests).

A client is only built when something was configured: a base URL (the Prism mock `make run`
starts, or a test's) or an account's credentials. With the development placeholders and no base
URL a request would go to the real api.twilio.com, carrying a caller's number and text, only to
be refused there (401): `client()` refuses instead with `TwilioNotConfigured`, and `configured()`
lets callers decide first what to tell the caller.
"""

from __future__ import annotations

import logging

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, Settings, env_name

log = logging.getLogger(__name__)

#: Seconds to wait for Twilio's API: the library's default is to wait forever, which would hold
#: a job worker (and its lease) hostage to one stuck connection.
TIMEOUT_S = 10.0


class TwilioNotConfigured(RuntimeError):
    """Twilio's REST API is not configured: development credentials and no API base URL."""


def configured(settings: Settings) -> bool:
    """Whether REST calls have somewhere to go: an API base URL, or credentials of an account."""
    if settings.twilio_api_base_url:
        return True
    # Only the untouched pair is "nothing configured": a deployment that set either one meant
    # to reach Twilio (and a wrong one fails there loudly, 401), as do the tests' settings.
    return not (
        settings.twilio_account_sid == DEV_ACCOUNT_SID
        and settings.twilio_auth_token == DEV_AUTH_TOKEN
    )


def client(settings: Settings) -> Client:
    """A Twilio client with the account's credentials (and the configured API base URL)."""
    if not configured(settings):
        message = (
            f"Twilio REST is not configured: {env_name('twilio_account_sid')}/"
            f"{env_name('twilio_auth_token')} are the development placeholders and "
            f"{env_name('twilio_api_base_url')} is unset (make run starts a local mock)"
        )
        log.warning("%s", message)
        raise TwilioNotConfigured(message)
    rest = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=TwilioHttpClient(timeout=TIMEOUT_S),
    )
    if settings.twilio_api_base_url:
        rest.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return rest
