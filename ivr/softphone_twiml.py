"""Pure helpers of the softphone: reading TwiML and caller inputs the way Twilio does."""

from __future__ import annotations

import http
import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

API_VERSION = "2010-04-01"
DIAL_OUTCOMES = ("completed", "no-answer", "busy", "failed", "canceled")
#: Verbs that only make the caller hear something (also the ones allowed inside <Gather>).
SPOKEN = ("Say", "Play", "Pause")
DIAL_TARGETS = ("Number", "Client", "Sip", "Conference", "Queue")
DEFAULT_CONFIDENCE = "0.92"

_DIGITS = re.compile(r"[0-9*#]+")
_SPEECH = re.compile(r"say(?:@(?P<confidence>[0-9.]+))?:(?P<text>.*)", re.IGNORECASE | re.DOTALL)

Answer = dict[str, str] | Literal["hangup"] | None


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 lowercase hex digits."""
    return prefix + uuid.uuid4().hex


def resolve(document_url: str, ref: str | None) -> str:
    """A TwiML URL resolved as Twilio does it: against the current document's absolute URL."""
    return urldefrag(urljoin(document_url, (ref or "").strip())).url


def text_of(element: ET.Element) -> str:
    """The element's text with whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def spoken_line(verb: ET.Element) -> str:
    """What the caller hears from a <Say>, <Play> or <Pause>, as one line."""
    loop = verb.get("loop")
    times = f" (×{loop})" if loop not in (None, "1") else ""
    if verb.tag == "Say":
        return f"🔊 [{verb.get('language') or 'en-US'}] {text_of(verb)}{times}"
    if verb.tag == "Play":
        played = f"(keys {verb.get('digits')})" if verb.get("digits") else text_of(verb)
        return f"♪ {played}{times}"
    return f"… (pause {verb.get('length', '1')}s)"


def parse_input(raw: str) -> Answer:
    """A caller's <Gather> input as Twilio parameters ("hangup", or None for silence).

    Raises ValueError for anything else.
    """
    text = raw.strip()
    if text.lower() in ("", "silence"):
        return None
    if text.lower() == "hangup":
        return "hangup"
    if _DIGITS.fullmatch(text):
        return {"Digits": text}
    match = _SPEECH.fullmatch(text)
    if match is None:
        raise ValueError(f"not a caller input: {text!r} (keys like 12#, say:words, or silence)")
    confidence = match["confidence"] or DEFAULT_CONFIDENCE
    try:
        valid = 0 <= float(confidence) <= 1
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"confidence must be from 0 to 1, got {confidence!r}")
    speech = match["text"].strip()
    return {"SpeechResult": speech, "Confidence": confidence} if speech else None


def gather_result(gather: ET.Element, answer: dict[str, str]) -> tuple[dict[str, str] | None, str]:
    """What Twilio makes of an answer to this <Gather>: its parameters (None: no input), a note.

    Speech counts only with input="speech", keys only with input="dtmf" (the default); Digits
    stop before finishOnKey (default #) and at numDigits.
    """
    kinds = (gather.get("input") or "dtmf").lower().split()
    if "Digits" not in answer:
        if "speech" in kinds:
            return answer, ""
        return None, '(speech ignored: this <Gather> has no input="speech")'
    if "dtmf" not in kinds:
        return None, '(keys ignored: this <Gather> has no input="dtmf")'
    digits, finish = answer["Digits"], gather.get("finishOnKey", "#")
    if finish and finish in digits:
        digits = digits[: digits.index(finish)]
    num_digits = gather.get("numDigits", "")
    if num_digits.isdigit() and int(num_digits) > 0:
        digits = digits[: int(num_digits)]
    return ({"Digits": digits}, "") if digits else (None, "")


def speech_text(raw: str) -> str:
    """A caller's message for <Record>: `say:text` or plain text."""
    match = _SPEECH.fullmatch(raw.strip())
    return (match["text"] if match else raw).strip()


@dataclass(frozen=True)
class DialTarget:
    """Who a <Dial> rings, and the whisper TwiML (absolute URL) the answering party gets."""

    name: str
    url: str | None = None
    method: str = "POST"


def dial_targets(dial: ET.Element, document_url: str) -> tuple[list[DialTarget], list[str]]:
    """The targets of a <Dial> (bare number, Number, Client, Sip, …) and any ignored children."""
    targets, ignored = [], []
    if (dial.text or "").strip():
        targets.append(DialTarget((dial.text or "").strip()))
    for child in dial:
        if child.tag not in DIAL_TARGETS:
            ignored.append(child.tag)
            continue
        name = text_of(child) if child.tag == "Number" else f"{child.tag}:{text_of(child)}"
        url = child.get("url")
        whisper = resolve(document_url, url) if url else None
        targets.append(DialTarget(name, whisper, child.get("method", "POST")))
    return targets, ignored


def recording_webhooks(
    base: dict[str, str],
    message: str,
    *,
    hung_up: bool,
    max_length: str,
    finish_on_key: str,
    media_base: str = "https://api.twilio.com",
) -> tuple[dict[str, str], dict[str, str]]:
    """The <Record> action's parameters and the recordingStatusCallback's, for `message`.

    RecordingDuration is 1 s per 4 characters (at least 1, at most maxLength); Digits is the
    key that ended the recording, or "hangup" (and then the call is already completed).
    """
    duration = max(1, len(message) // 4)
    if max_length.isdigit() and int(max_length) > 0:
        duration = min(duration, int(max_length))
    sid, account_sid = new_sid("RE"), base["AccountSid"]
    recording = {
        "RecordingUrl": f"{media_base.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
        f"/Recordings/{sid}",
        "RecordingSid": sid,
        "RecordingDuration": str(duration),
    }
    action = {**base, **recording}
    digits = "hangup" if hung_up else ("#" if "#" in finish_on_key else finish_on_key[:1])
    if digits:
        action["Digits"] = digits
    if hung_up:
        action["CallStatus"] = "completed"
    status = {
        **recording,
        "RecordingStatus": "completed",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "CallSid": base["CallSid"],
        "AccountSid": account_sid,
    }
    return action, status


def leg_params(
    call_sid: str, account_sid: str, from_number: str, to_number: str, **extra: str
) -> dict[str, str]:
    """The parameters Twilio posts on every webhook of one call leg (CallStatus in-progress)."""
    return {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": from_number,
        "To": to_number,
        "Caller": from_number,
        "Called": to_number,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": API_VERSION,
        **extra,
    }


def transport_path(public_base_url: str, url: str) -> str:
    """The path and query of an absolute URL, relative to the public base URL when under it."""
    base = public_base_url.rstrip("/")
    if url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?"):
        rest = url[len(base) :]
    else:
        parts = urlsplit(url)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return rest if rest.startswith("/") else "/" + rest


def error_reason(status: int, body: bytes) -> str:
    """`HTTP 403 Forbidden: <reason>` with the JSON `reason`, else the start of the body."""
    try:
        where = f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        where = f"HTTP {status}"
    return f"{where}: {body_excerpt(body)}"


def body_excerpt(body: bytes) -> str:
    """The `reason` of a JSON error body, else the start of the body."""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "reason" in parsed:
        return str(parsed["reason"])
    text = " ".join(text.split())
    return (text[:200] + "…" if len(text) > 200 else text) or "(empty body)"
