"""Phone numbers: everything stored is E.164, normalised with `phonenumbers`."""

from __future__ import annotations

import functools

import phonenumbers

#: What Twilio puts in From when the caller withheld their number.
WITHHELD = frozenset({"", "anonymous", "restricted", "unknown", "private", "+266696687"})


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number for the given region."""


def to_e164(raw: str, region: str) -> str:
    """Normalise `raw` (international, or national for `region`) to E.164, or raise."""
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidPhoneNumber(f"not a phone number: {raw[:40]!r}")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {raw[:40]!r} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"not a valid phone number: {raw[:40]!r}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@functools.lru_cache(maxsize=1024)
def caller_e164(raw: str | None, region: str) -> str | None:
    """E.164 for a caller's number as Twilio reports it; None when withheld or unusable.

    A hotline answers every caller, so an unusable caller ID is recorded as unknown rather than
    refused: the raw value is kept beside it. Every webhook of a call carries the same From and
    To, so the answers are cached (parsing is a tenth of a status callback's CPU); the cache
    is bounded, a few hundred KiB.
    """
    if raw is None or raw.strip().lower() in WITHHELD:
        return None
    if raw.startswith(("client:", "sip:")):
        return None
    try:
        return to_e164(raw, region)
    except InvalidPhoneNumber:
        return None


def mask(number: str | None) -> str:
    """A caller's number as it may appear in logs: country code and last two digits only."""
    if not number:
        return "-"
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
