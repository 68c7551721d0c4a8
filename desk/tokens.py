"""Access tokens for the desk page's browser softphone (Twilio's Voice JS SDK).

A token lets the browser register with Twilio as `identity` (the call-taker's login) and
receive calls to `client:<identity>`: the desk's offers ring it like a desk phone. It is signed
with an API key of the account (TWILIO_API_KEY_SID and its secret) and carries a VoiceGrant with
the TwiML App (TWILIO_TWIML_APP_SID) as its outgoing application. Made with the `twilio`
library's AccessToken; short-lived (TTL_S) and asked for again by the page before it expires.
"""

from __future__ import annotations

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from config.settings import Settings

#: An hour: Twilio allows up to 24 h; a stolen token is worth less the sooner it ends.
TTL_S = 3600


class NotConfigured(RuntimeError):
    """The browser softphone is not configured (no API key, secret or TwiML App)."""


def configured(settings: Settings) -> bool:
    return bool(
        settings.twilio_api_key_sid
        and settings.twilio_api_key_secret
        and settings.twilio_twiml_app_sid
    )


def identity_of(username: str) -> str:
    """The softphone identity of a call-taker (their login); `client:<identity>` rings it."""
    return username


def access_token(settings: Settings, username: str) -> str:
    """A signed access token (JWT) for `username`'s browser softphone."""
    if not configured(settings):
        raise NotConfigured(
            "the browser phone needs TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET and "
            "TWILIO_TWIML_APP_SID"
        )
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key_sid,
        settings.twilio_api_key_secret,
        identity=identity_of(username),
        ttl=TTL_S,
    )
    token.add_grant(
        VoiceGrant(outgoing_application_sid=settings.twilio_twiml_app_sid, incoming_allow=True)
    )
    return str(token.to_jwt())
