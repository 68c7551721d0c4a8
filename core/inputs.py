"""Reading what clients send, one way everywhere: numbers, moments and text.

Python is generous where a public interface must not be: `"²".isdigit()` and `int("５")` are
true and 5, `datetime.fromisoformat("0001-01-01T00:00:00+14:00")` parses and overflows on the
first conversion, and a string may hold control characters that no XML 1.0 document can carry.
Each reader here accepts exactly what it documents and raises `BadInput` (a ValueError) with a
reason a 4xx answer can show; callers map it to their own error (400 JSON, Open311's error list,
safe TwiML).
"""

from __future__ import annotations

import datetime as dt
import re

#: The moments a client may name: anything outside is refused before it is compared or shifted.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
#: What XML 1.0 cannot hold: C0 controls but tab, newline and carriage return; surrogates;
#: U+FFFE and U+FFFF. (C1 controls are legal XML but invisible: removed too.)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,20})?")
#: An address mail can be sent to: one @, no spaces or angle brackets, a dotted domain
#: (RFC 5321 caps the whole at 254 characters). Deliverability is the mail server's to say.
_EMAIL = re.compile(r"[^\s@<>\"(),;:]{1,64}@[^\s@<>\"(),;:]+\.[^\s@<>\"(),;:.]{2,}")
MAX_EMAIL = 254


class BadInput(ValueError):
    """A value a client sent is not what the interface accepts; the message says why."""


def whole_number(raw: str, name: str, low: int, high: int) -> int:
    """`raw` as an integer in [low, high], written with ASCII digits only (no sign, no spaces)."""
    if len(raw) > len(str(high)) or not _ASCII_DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadInput(f"{name}: a whole number from {low} to {high}")
    return int(raw)


def decimal(raw: str, name: str, low: float, high: float) -> float:
    """`raw` as a number in [low, high], written as an ASCII decimal ("-27.3375": no exponent,
    no sign but minus, no nan or inf)."""
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        raise BadInput(f"{name}: a decimal number in ASCII digits, like 27.3375")
    value = float(text)
    if not low <= value <= high:
        raise BadInput(f"{name}: from {low:g} to {high:g}")
    return value


def digits_or_none(raw: str | None, max_len: int) -> int | None:
    """`raw` as an integer if it is 1 to `max_len` ASCII digits, else None (for optional
    fields Twilio sends, where a garbled value is ignored rather than refused)."""
    if raw is None or len(raw) > max_len or not _ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)


def moment(raw: str, name: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 / W3C date and time ('Z' or an offset; without one, local time in `tz`),
    in UTC, between EARLIEST and LATEST."""
    text = raw.strip()
    if not text.isascii():
        raise BadInput(f"{name}: a date and time like 2026-11-01T00:00:00Z")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        value = value if value.tzinfo else value.replace(tzinfo=tz)
        utc = value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise BadInput(f"{name}: a date and time like 2026-11-01T00:00:00Z") from None
    if not EARLIEST <= utc < LATEST:
        raise BadInput(f"{name}: must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return utc


def day(raw: str, name: str) -> dt.date:
    """An ISO date (YYYY-MM-DD) between EARLIEST and LATEST."""
    text = raw.strip()
    try:
        value = dt.date.fromisoformat(text) if text.isascii() and len(text) == 10 else None
    except ValueError:
        value = None
    if value is None:
        raise BadInput(f"{name}: a date like 2026-11-01")
    if not EARLIEST.date() <= value < LATEST.date():
        raise BadInput(f"{name}: must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def email(raw: str, name: str) -> str:
    """`raw` as an e-mail address (trimmed): one @, a dotted domain, at most 254 characters."""
    text = raw.strip()
    if len(text) > MAX_EMAIL or not _EMAIL.fullmatch(text):
        raise BadInput(f"{name}: an e-mail address like name@example.org")
    return text


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a character no XML 1.0 document can carry (or an invisible C1)."""
    return _NOT_XML.search(text) is not None


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (for output built from stored text)."""
    return _NOT_XML.sub("", text)
