"""Text messages to callers and duty contacts, sent by a job (never inside a webhook)."""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs, twilio_rest

SEND = "sms.send"
#: Number types that can receive SMS (a fixed line cannot).
_SMS_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def can_receive_sms(e164: str | None) -> bool:
    """Whether an E.164 number is a mobile one (as far as the numbering plan tells)."""
    if not e164:
        return False
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in _SMS_TYPES


def schedule_sms(session: Session, *, key: str, to: str, body: str) -> bool:
    """Queue one SMS (once per key); returns False when `to` can't take SMS."""
    if not can_receive_sms(to):
        return False
    jobs.push_later(jobs.schedule(session, SEND, key, {"to": to, "body": body[:1500]}))
    return True


@jobs.handler(SEND)
def send(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Send through Twilio's Messaging API from the hotline number."""
    twilio_rest.client(settings).messages.create(
        to=payload["to"], from_=settings.hotline_number, body=payload["body"]
    )
