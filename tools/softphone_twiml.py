"""The softphone's parts: pure helpers reading TwiML and inputs the way Twilio does, the data
it hands around, and its two small transports (HTTP, or a Flask test client)."""

from __future__ import annotations

import http
import io
import json
import re
import urllib.error
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urldefrag, urlencode, urljoin, urlsplit

if TYPE_CHECKING:
    from flask.testing import FlaskClient

API_VERSION = "2010-04-01"
DIAL_OUTCOMES = ("completed", "no-answer", "busy", "failed", "canceled")
#: How a <Dial> ringing several phones screens them: only the first to answer (exclusive), or
#: each in turn while the others keep ringing, until one accepts (parallel). Twilio's docs say
#: the first to pick up is connected and the rest hung up, but not what happens while the first
#: one's whisper runs: the product must work both ways.
SCREENING = ("exclusive", "parallel")
#: DialCallStatus when the caller hangs up while the phones ring: the child legs are canceled
#: (Twilio's call statuses: canceled = "an incoming call was disconnected by the calling party"
#: before it was answered; the <Dial> page does not spell this case out).
CALLER_HUNG_UP_DIAL_STATUS = "canceled"
#: Verbs that only make the caller hear something (also the ones allowed inside <Gather>).
SPOKEN = ("Say", "Play", "Pause")
DIAL_TARGETS = ("Number", "Client", "Sip", "Conference", "Queue")
DEFAULT_CONFIDENCE = "0.92"
#: Twilio's AnsweredBy values (answering-machine detection).
ANSWERED_BY = (
    "human",
    "unknown",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
)
#: MachineDetectionDuration (ms) the softphone's detection result reports.
AMD_DURATION_MS = "1800"
#: What a waitUrl document may hold (twilio.com/docs/voice/twiml/enqueue); Twilio requests the
#: waitUrl again when one ends, and runs a <Gather>'s or <Redirect>'s document in the queue too.
QUEUE_WAIT_VERBS = ("Say", "Play", "Pause", "Gather", "Leave", "Redirect", "Hangup")
#: What a `<Queue url>` document, run on the queued caller just before they are connected, may
#: hold (twilio.com/docs/voice/twiml/queue).
QUEUE_URL_VERBS = ("Play", "Say", "Pause", "Redirect")
#: Seconds a <Play> counts when the softphone cannot read the audio's length (not a WAV under
#: the hotline's URL): it never fetches audio from elsewhere.
DEFAULT_PLAY_S = 10.0
#: How long a <Say> takes: about 4 Chinese characters, or 15 other characters, a second.
CJK_PER_S, OTHER_PER_S = 4.0, 15.0
#: How long the caller and a call-taker talk once connected (simulated), as `dial_result`'s
#: DialCallDuration for an answered <Dial>.
TALK_S = 42

_DIGITS = re.compile(r"[0-9*#]+")
_SPEECH = re.compile(r"say(?:@(?P<confidence>[0-9.]+))?:(?P<text>.*)", re.IGNORECASE | re.DOTALL)

#: "api-hangup": the hotline ended the call through the REST API (a machine's survey call).
EndedHow = Literal[
    "hangup", "end-of-document", "error", "too-many-steps", "caller-hung-up", "api-hangup"
]
Answer = dict[str, str] | Literal["hangup"] | None
Screening = Literal["exclusive", "parallel"]


@dataclass(frozen=True)
class HttpResult:
    """What a webhook answered."""

    status: int
    content_type: str
    body: bytes


class Transport(Protocol):
    """Delivers one form-encoded POST to the server under test."""

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        """POST `params` to `path` (which includes any query string)."""
        ...


class HttpTransport:
    """Posts over HTTP with the standard library; non-2xx answers are returned, not raised."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        """POST form-encoded `params` to the base URL + `path`."""
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.base_url + path,
            data=urlencode(params).encode("utf-8"),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                content_type = response.headers.get("Content-Type", "")
                return HttpResult(response.status, content_type, response.read())
        except urllib.error.HTTPError as exc:
            try:
                return HttpResult(exc.code, exc.headers.get("Content-Type", ""), exc.read())
            finally:
                exc.close()

    def get(self, path: str) -> HttpResult:
        """GET the base URL + `path` (media Twilio fetches, such as <Play> audio)."""
        request = urllib.request.Request(self.base_url + path, method="GET")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                content_type = response.headers.get("Content-Type", "")
                return HttpResult(response.status, content_type, response.read())
        except urllib.error.HTTPError as exc:
            try:
                return HttpResult(exc.code, exc.headers.get("Content-Type", ""), b"")
            finally:
                exc.close()


class FlaskTransport:
    """Posts to a Flask test client, for tests and demos without a network."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        """POST `params` to `path` through the test client."""
        response = self.client.post(path, data=dict(params), headers=dict(headers))
        return HttpResult(response.status_code, response.content_type or "", response.get_data())

    def get(self, path: str) -> HttpResult:
        """GET `path` through the test client (media, such as <Play> audio)."""
        response = self.client.get(path)
        try:
            return HttpResult(
                response.status_code, response.content_type or "", response.get_data()
            )
        finally:
            response.close()


@dataclass
class CallResult:
    """How a simulated call went: exit code, what was printed and what was posted.

    `twilio_errors` lists what Twilio would report as errors while the call went on (a <Dial>
    in a whisper, say); a call with any exits 3 unless it already failed otherwise.
    """

    exit_code: int
    call_sid: str
    transcript: list[str]
    requests: list[tuple[str, dict[str, str]]]
    ended_how: EndedHow
    twilio_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueOptions:
    """How a caller waits in a Twilio queue (`<Enqueue>`), which only Twilio can see.

    The softphone knows no other callers: the caller stays at `position` (CurrentQueueSize is
    the same: nobody behind them) and the queue's recent average wait is `avg_wait_s`. Time is
    simulated: each round of the waitUrl advances QueueTime by what the caller heard (a <Say>
    by its length, a WAV <Play> by its duration, a <Pause>, a <Gather>'s timeout) without
    waiting, unless `realtime`. A scripted caller hangs up after `rounds` rounds; with
    `taker_after_s`, a call-taker answers the hotline's offer once the caller has waited that
    long.
    """

    position: int = 1
    avg_wait_s: int = 0
    rounds: int = 6
    realtime: bool = False
    taker_after_s: int | None = None


@dataclass(frozen=True)
class TakerLeg:
    """The call the hotline placed (REST) to a call-taker's desk phone, as Twilio would run it:
    who it rings, its SID, the TwiML URL run when they answer and its status callback."""

    call_sid: str
    from_number: str
    to_number: str
    url: str
    status_callback: str
    name: str = ""
    method: str = "POST"
    status_method: str = "POST"


@dataclass(frozen=True)
class SurveyLeg:
    """The survey call a case's caller is about to answer, as Twilio would present it."""

    call_sid: str
    from_number: str
    to_number: str
    answer_path: str
    status_path: str
    #: Where Twilio posts the answering-machine detection result (AsyncAmdStatusCallback).
    amd_path: str
    auth_token: str
    account_sid: str


def is_machine(answered_by: str) -> bool:
    """Whether an AnsweredBy says a machine or a fax took the call."""
    return answered_by.startswith(("machine_", "fax"))


def amd_params(call_sid: str, account_sid: str, answered_by: str) -> dict[str, str]:
    """What Twilio posts to an AsyncAmdStatusCallback: the call, the verdict, how long it took."""
    return {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": AMD_DURATION_MS,
    }


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


def loops(verb: ET.Element) -> int:
    """How many times a <Say> or <Play> plays (loop="0", for ever, counts once here)."""
    loop = verb.get("loop", "1")
    return int(loop) if loop.isdigit() and int(loop) > 0 else 1


def say_seconds(verb: ET.Element) -> float:
    """About how long a <Say> speaks (every loop): Chinese 4 characters a second, others 15."""
    text = text_of(verb)
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return max(1.0, cjk / CJK_PER_S + (len(text) - cjk) / OTHER_PER_S) * loops(verb)


def wav_seconds(body: bytes) -> float | None:
    """The duration of a WAV file, or None if `body` is not one."""
    try:
        with wave.open(io.BytesIO(body)) as audio:
            rate = audio.getframerate()
            return audio.getnframes() / rate if rate else None
    except (wave.Error, EOFError):
        return None


def clock(seconds: float) -> str:
    """Seconds as m:ss."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


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
    misplaced = misplaced_input(text)
    if misplaced:
        raise ValueError(misplaced)
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


def misplaced_input(raw: str) -> str:
    """Why a scripted `dial:`/`officer:` input cannot answer the caller's prompt ("" if it can)."""
    prefix = raw.strip().lower().partition(":")[0]
    if prefix in ("dial", "officer") and ":" in raw:
        who = "a <Dial> ends" if prefix == "dial" else "the officer's <Gather> runs"
        return f"the input {raw.strip()!r} is for when {who}, but the caller is asked here"
    return ""


def parse_dial_outcome(raw: str) -> str | None:
    """How a <Dial> ends, from `dial:busy`, `dial:hangup`, Enter (completed); None: unknown."""
    outcome = raw.strip().lower().removeprefix("dial:").strip() or "completed"
    return outcome if outcome in (*DIAL_OUTCOMES, "hangup") else None


def parse_officer_key(raw: str) -> str | None:
    """The keys an answering officer presses (`officer:#`, `1`; None: nothing, `none`/Enter).

    Raises ValueError for anything else.
    """
    text = raw.strip()
    if text.lower().startswith("officer:"):
        text = text[len("officer:") :].strip()
    if text.lower() in ("", "none", "silence", "nothing"):
        return None
    if _DIGITS.fullmatch(text):
        return text
    raise ValueError(f"not an officer's key: {raw.strip()!r} (officer:1, officer:#, officer:none)")


def gather_result(gather: ET.Element, answer: dict[str, str]) -> tuple[dict[str, str] | None, str]:
    """What Twilio makes of an answer to this <Gather>: its parameters (None: no input), a note.

    Speech counts only with input="speech", keys only with input="dtmf" (the default). Keys are
    taken one by one: finishOnKey (default #; "" makes # an ordinary key) ends the digits only
    after a digit (a finish key before any digit is swallowed), and numDigits stops at its count.
    """
    kinds = (gather.get("input") or "dtmf").lower().split()
    if "Digits" not in answer:
        if "speech" in kinds:
            return answer, ""
        return None, '(speech ignored: this <Gather> has no input="speech")'
    if "dtmf" not in kinds:
        return None, '(keys ignored: this <Gather> has no input="dtmf")'
    finish, num_digits = gather.get("finishOnKey", "#"), gather.get("numDigits", "")
    limit = int(num_digits) if num_digits.isdigit() else 0
    digits, swallowed = "", ""
    for key in answer["Digits"]:
        if finish and key in finish:
            if digits:
                break
            swallowed = key
            continue
        digits += key
        if 0 < limit <= len(digits):
            break
    note = (
        f"({swallowed} before any digit is swallowed: finishOnKey only ends a digit sequence)"
        if swallowed
        else ""
    )
    return ({"Digits": digits} if digits else None), note


def speech_text(raw: str) -> str:
    """A caller's message for <Record>: `say:text` or plain text."""
    match = _SPEECH.fullmatch(raw.strip())
    return (match["text"] if match else raw).strip()


@dataclass(frozen=True)
class DialTarget:
    """Who a <Dial> rings, and the whisper TwiML (absolute URL) the answering party gets.

    `name` is the leg's To (a number, a SIP URI, client:…); `kind` the noun (Number, Sip, …).
    """

    name: str
    url: str | None = None
    method: str = "POST"
    kind: str = "Number"
    byoc: str | None = None

    @property
    def label(self) -> str:
        """How the transcript shows this leg: the carrier (BYOC trunk) or SIP said plainly."""
        if self.kind == "Sip":
            return f"{self.name} (SIP)"
        if self.kind == "Client":
            return f"Client:{self.name.removeprefix('client:')}"
        if self.kind != "Number":
            return f"{self.kind}:{self.name}"
        return f"{self.name} (via BYOC trunk {self.byoc})" if self.byoc else self.name


def dial_targets(dial: ET.Element, document_url: str) -> tuple[list[DialTarget], list[str]]:
    """The targets of a <Dial> (bare number, Number, Client, Sip, …) and any ignored children."""
    targets, ignored = [], []
    if (dial.text or "").strip():
        targets.append(DialTarget((dial.text or "").strip()))
    for child in dial:
        if child.tag not in DIAL_TARGETS:
            ignored.append(child.tag)
            continue
        name = text_of(child)
        if child.tag == "Client" and not name.startswith("client:"):
            name = f"client:{name}"
        url = child.get("url")
        whisper = resolve(document_url, url) if url else None
        byoc = child.get("byoc") if child.tag == "Number" else None
        targets.append(DialTarget(name, whisper, child.get("method", "POST"), child.tag, byoc))
    return targets, ignored


def dial_line(targets: list[DialTarget], timeout: str | None) -> str:
    """The transcript line of a <Dial>: who rings, through which carrier, for how long."""
    names = ", ".join(target.label for target in targets) or "nobody"
    return f"☎ dialing {names} (timeout {timeout or '30'}s)"


def dial_result(outcome: str, dial_sid: str) -> dict[str, str]:
    """The parameters Twilio adds to the <Dial action> request for a dial that ended so."""
    return {
        "DialCallStatus": outcome,
        "DialCallSid": dial_sid,
        "DialCallDuration": "42" if outcome == "completed" else "0",
        # Twilio says whether the two legs were bridged (a screened leg that hung up can still
        # be "completed").
        "DialBridged": "true" if outcome == "completed" else "false",
    }


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
