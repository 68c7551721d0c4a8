"""`hotline call`: a terminal softphone that calls a running hotline exactly as Twilio would.

It posts signed webhooks, plays the TwiML it gets back (Say, Play, Pause, Gather, Redirect, Dial,
Record, Hangup, Reject) and lets a person at the keyboard, or a script of inputs, be the caller
and the officers who answer. Where it and Twilio's documentation disagree, the documentation wins.

With `amd_callback` it also plays Twilio's asynchronous answering-machine detection (AsyncAmd):
the answer webhook carries no AnsweredBy, and the verdict is posted to its own URL once the first
document has been fetched, while the call goes on. On a machine's verdict the caller gives no
input and the hotline's REST hang-up (which it queues, then sends) ends the call: the current
document's sounds play, and the call ends where it would next wait for the caller or fetch
another document (a <Gather>, <Redirect>, <Dial> or <Record>), with CallStatus completed.

It waits in Twilio's queues (`<Enqueue>`) on a simulated clock (`QueueOptions`): it requests the
waitUrl again and again with QueuePosition, QueueTime, AvgQueueTime and CurrentQueueSize, plays
what the caller hears there (a <Gather> takes the next input, and its answer runs in the queue
too), leaves on <Leave>, and posts the Enqueue action with QueueResult (leave, hangup, bridged)
and QueueTime; a scripted caller hangs up after a number of rounds. It cannot see the REST call
with which the hotline rings a call-taker; given that call (`TakerLeg`, which `hotline call
--taker NAME` reads from the hotline's database, as `--survey` does), it plays the call-taker
answering it: their <Gather>, their `<Dial><Queue>`, the `<Queue url>` run on the caller, the
talk, the caller's Enqueue action (bridged) and the call-taker's status callback.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn, TypeAlias

import click
from twilio.request_validator import RequestValidator

from config.settings import Settings, SettingsError
from tools.softphone_twiml import (
    ANSWERED_BY,
    CALLER_HUNG_UP_DIAL_STATUS,
    DEFAULT_PLAY_S,
    DIAL_OUTCOMES,
    QUEUE_URL_VERBS,
    QUEUE_WAIT_VERBS,
    SCREENING,
    SPOKEN,
    TALK_S,
    DialTarget,
    Screening,
    amd_params,
    body_excerpt,
    clock,
    dial_line,
    dial_result,
    dial_targets,
    error_reason,
    gather_result,
    is_machine,
    leg_params,
    loops,
    misplaced_input,
    new_sid,
    parse_dial_outcome,
    parse_input,
    parse_officer_key,
    recording_webhooks,
    resolve,
    say_seconds,
    speech_text,
    spoken_line,
    text_of,
    transport_path,
    wav_seconds,
)

# Re-exported: callers import these from tools.softphone.
from tools.softphone_twiml import CallResult as CallResult
from tools.softphone_twiml import EndedHow as EndedHow
from tools.softphone_twiml import FlaskTransport as FlaskTransport
from tools.softphone_twiml import HttpResult as HttpResult
from tools.softphone_twiml import HttpTransport as HttpTransport
from tools.softphone_twiml import QueueOptions as QueueOptions
from tools.softphone_twiml import SurveyLeg as SurveyLeg
from tools.softphone_twiml import TakerLeg as TakerLeg
from tools.softphone_twiml import Transport as Transport

if TYPE_CHECKING:
    from flask import Flask


DEFAULT_CALLER = "+8613800138000"
#: What to do when the hotline does not answer at all.
START_HINT = "is the service running? Start it with `make run` (or give its URL with --base-url)"
PROMPT = "keys, say:words, or Enter for silence > "
OFFICER_PROMPT = "officer presses (key, or Enter for nothing) > "
QUEUE_PROMPT = "in the queue: Enter to keep waiting, or hangup > "
#: How long `hotline call --taker` waits, in real time, for the hotline's job worker to ring the
#: call-taker (Huey's consumer polls at most every 10 s when idle).
OFFER_WAIT_S = 20.0
#: When `--taker` answers unless `--taker-answers-after` says: seconds of the caller's wait.
TAKER_ANSWERS_AFTER_S = 20
#: Beyond the call's Timeout (DESK_RING_S), how long an offer may seem to ring before the
#: softphone takes it that Twilio has ended it (the worker's and this clock's skew).
RING_GRACE_S = 5
LegResult = Literal["accepted", "declined", "failed"]
#: How a wait in a queue ended: Twilio's QueueResult, and how the call ended if it did.
QueueEnd: TypeAlias = "tuple[str, EndedHow | None]"


class _Stop(Exception):
    """Ends the call at once (an HTTP or TwiML error, or too many steps)."""

    def __init__(self, how: EndedHow) -> None:
        super().__init__(how)
        self.how: EndedHow = how


class _Bridged(Exception):
    """The caller was put through to a call-taker: what they were hearing in the queue stops."""


@dataclass(frozen=True)
class _Request:
    url: str
    params: dict[str, str]
    method: str = "POST"
    followups: tuple[_Request, ...] = ()  # posted right after; their answers are not TwiML


@dataclass
class _Leg:
    """One call leg: the caller's, or the officer's while a <Dial> whispers to them."""

    base: dict[str, str]
    prefix: str = ""
    officer: bool = False
    answers_left: int = 0  # default key presses left (scripted calls without officer: inputs)
    noun: str = "Number"  # the <Dial> noun whose url runs on the officer's leg
    who: str = "officer"  # who answers a <Gather> on an officer's leg (or a call-taker's)
    taker: bool = False  # a call-taker's own call (REST): its <Dial><Queue> takes the caller


@dataclass
class _Queue:
    """The caller's wait in one of Twilio's queues, on the softphone's clock."""

    name: str
    sid: str
    caller: _Leg
    position: int
    avg_wait_s: int
    seconds: float = 0.0
    taker_tried: bool = False
    bridged: bool = False

    @property
    def waited(self) -> str:
        """QueueTime: whole seconds in the queue."""
        return str(int(self.seconds))

    def wait_params(self) -> dict[str, str]:
        """What Twilio adds to a waitUrl request (nobody behind the caller: size = position)."""
        return {
            "QueueSid": self.sid,
            "QueuePosition": str(self.position),
            "QueueTime": self.waited,
            "AvgQueueTime": str(self.avg_wait_s),
            "CurrentQueueSize": str(self.position),
        }


_Next: TypeAlias = "_Request | EndedHow | None"


class Softphone:
    """A simulated caller: posts Twilio's webhooks and plays the TwiML it gets back."""

    def __init__(
        self,
        *,
        transport: Transport,
        public_base_url: str,
        auth_token: str,
        account_sid: str,
        from_number: str,
        to_number: str,
        inputs: Sequence[str] | None = None,
        output_func: Callable[[str], object] = print,
        input_func: Callable[[str], str] = input,
        incoming_path: str = "/voice/incoming",
        status_path: str = "/voice/status",
        max_steps: int = 60,
        call_sid: str | None = None,
        leg_extra: Mapping[str, str] | None = None,
        first_status: str = "ringing",
        media_base: str = "https://api.twilio.com",
        screening: Screening = "exclusive",
        amd_callback: tuple[str, str] | None = None,
        queue: QueueOptions | None = None,
        taker_offer: Callable[[str], TakerLeg | None] | None = None,
        sleep_func: Callable[[float], object] = time.sleep,
    ) -> None:
        queue = queue or QueueOptions()
        if queue.taker_after_s is not None and taker_offer is None:
            raise ValueError("taker_after_s needs taker_offer: the call the hotline placed")
        if queue.position < 1 or queue.rounds < 1 or queue.avg_wait_s < 0:
            raise ValueError(f"queue options out of range: {queue}")
        if screening not in SCREENING:
            raise ValueError(f"screening must be one of {', '.join(SCREENING)}, got {screening!r}")
        if amd_callback is not None and amd_callback[1] not in ANSWERED_BY:
            raise ValueError(
                f"AnsweredBy must be one of {', '.join(ANSWERED_BY)}, got {amd_callback[1]!r}"
            )
        self.transport = transport
        self.public_base_url = public_base_url.rstrip("/")
        self.account_sid = account_sid
        self.from_number = from_number
        self.to_number = to_number
        self.inputs = None if inputs is None else list(inputs)
        self.output_func = output_func
        self.input_func = input_func
        self.incoming_path = incoming_path
        self.status_path = status_path
        self.max_steps = max_steps
        self.call_sid = call_sid or new_sid("CA")
        #: Parameters every webhook of this call carries besides the usual ones (an outbound
        #: call's Direction, say).
        self.leg_extra = dict(leg_extra or {})
        self.first_status = first_status
        #: Where the recordings' RecordingUrl points (a local stand-in for Twilio in tests).
        self.media_base = media_base
        #: Whether, when the first phone to answer declines, the other phones of the same <Dial>
        #: are still ringing and the next one answers (parallel) or not (exclusive).
        self.screening = screening
        #: Asynchronous answering-machine detection: where its result is posted (a path, as
        #: `incoming_path`) and the AnsweredBy it reports (see the module's docstring).
        self.amd_callback = amd_callback
        self._detection_due = amd_callback is not None
        self._machine = False
        #: How the caller waits in a queue, and who answers the hotline's offer: given the
        #: queue's name, the call the hotline placed to a call-taker (None: none placed).
        self.queue = queue
        self.taker_offer = taker_offer
        self.sleep_func = sleep_func
        self._queue: _Queue | None = None  # the queue the caller is waiting in now
        self._extra_seconds = 0.0  # time in queues and talking, for CallDuration
        self._media: dict[str, float | None] = {}
        self._validator = RequestValidator(auth_token)
        self._transcript: list[str] = []
        self._requests: list[tuple[str, dict[str, str]]] = []
        self._twilio_errors: list[str] = []
        self._next_input_at = 0
        self._steps = 0

    def run(self) -> CallResult:
        """Place the call and play it to its end; what the server does never raises here."""
        self._out(f"📞 calling {self.to_number} from {self.from_number} ({self.call_sid})")
        base = leg_params(
            self.call_sid, self.account_sid, self.from_number, self.to_number, **self.leg_extra
        )
        first = _Request(
            self._absolute(self.incoming_path), {**base, "CallStatus": self.first_status}
        )
        try:
            how = self._drive(first, _Leg(base))
        except _Stop as stop:
            how = stop.how
        if how == "end-of-document":
            self._out("📴 end of the TwiML document: Twilio hangs up")
        elif how == "caller-hung-up":
            self._out("📴 the caller hung up")
        elif how == "api-hangup":
            self._out("📴 the hotline ended the call (answering machine)")
        if how != "error":
            duration = str(3 * self._steps + int(self._extra_seconds))
            status = {**base, "CallStatus": "completed", "CallDuration": duration}
            try:
                self._post(_Request(self._absolute(self.status_path), status))
                self._out(f"call ended ({how}) after {duration}s")
            except _Stop as stop:
                how = stop.how
        exit_code = {"error": 1, "too-many-steps": 2}.get(how, 3 if self._twilio_errors else 0)
        return CallResult(
            exit_code, self.call_sid, self._transcript, self._requests, how, self._twilio_errors
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _absolute(self, path: str) -> str:
        return self.public_base_url + "/" + path.lstrip("/")

    def _transport_path(self, url: str) -> str:
        return transport_path(self.public_base_url, url)

    def _post(self, request: _Request) -> HttpResult:
        """POST a webhook signed as Twilio signs it (on the absolute URL); stop unless 2xx."""
        path = self._transport_path(request.url)
        if request.method.upper() != "POST":
            self._out(f"(note: method={request.method} for {path} is sent as POST)")
        signature = self._validator.compute_signature(request.url, request.params)
        headers = {
            "X-Twilio-Signature": str(signature),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        self._requests.append((path, dict(request.params)))
        try:
            result = self.transport.post(path, request.params, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._fail(self._unreachable(path, exc))
        if not 200 <= result.status < 300:
            self._fail(f"POST {path}: {error_reason(result.status, result.body)}")
        return result

    def _fetch(self, request: _Request, *, counted: bool = True) -> ET.Element:
        """POST a webhook that must answer TwiML, then its follow-ups; the parsed <Response>.

        A waitUrl round is not `counted` toward `max_steps`: the rounds have their own limit.
        """
        self._steps += counted
        if counted and self._steps > self.max_steps:
            self._out(f"✖ more than {self.max_steps} webhooks in one call: stopping (a loop?)")
            raise _Stop("too-many-steps")
        result = self._post(request)
        for followup in request.followups:
            self._post(followup)
        where = f"HTTP {result.status} from POST {self._transport_path(request.url)}"
        try:
            root = ET.fromstring(result.body)  # noqa: S314 (expat refuses entity expansion bombs)
        except ET.ParseError as exc:
            self._fail(f"{where} is not TwiML ({exc}): {body_excerpt(result.body)}")
        if root.tag != "Response":
            self._fail(f"{where} is not TwiML: the root is <{root.tag}>, not <Response>")
        return root

    def _unreachable(self, path: str, exc: Exception) -> str:
        """Why POST `path` got no HTTP answer at all, with the URL and what to do."""
        base = getattr(self.transport, "base_url", None)
        url = f"{base}{path}" if isinstance(base, str) else path
        return f"POST {url} failed: cannot reach the hotline ({_reason(exc)}); {START_HINT}"

    def _fail(self, message: str) -> NoReturn:
        self._out(f"✖ {message}")
        raise _Stop("error")

    def _twilio_error(self, message: str) -> None:
        """What Twilio reports as an error while the call goes on."""
        self._twilio_errors.append(message)
        self._out(f"   ✖ {message}")

    # -- TwiML -----------------------------------------------------------------------------

    def _drive(self, request: _Request, leg: _Leg) -> EndedHow:
        """Fetch and play documents on `leg` until one ends the leg."""
        while True:
            root = self._fetch(request)
            if self._detection_due:
                self._detection()
            outcome = self._execute(root, request.url, leg)
            if not isinstance(outcome, _Request):
                return outcome
            request = outcome

    def _detection(self) -> None:
        """Post the answering-machine detection result, once (its answer is not TwiML)."""
        assert self.amd_callback is not None  # noqa: S101 (only called when one is set)
        self._detection_due = False
        path, answered_by = self.amd_callback
        self._machine = is_machine(answered_by)
        self._out(f"🤖 answering-machine detection: {answered_by}")
        params = amd_params(self.call_sid, self.account_sid, answered_by)
        self._post(_Request(self._absolute(path), params))

    def _execute(self, root: ET.Element, url: str, leg: _Leg) -> _Request | EndedHow:
        """Play one document's verbs; the next webhook to fetch, or how the leg ended."""
        for verb in root:
            outcome: _Next = None
            if self._machine and verb.tag in ("Redirect", "Dial", "Record"):
                return "api-hangup"  # the REST hang-up comes first
            if verb.tag in SPOKEN:
                self._hear(verb, url, leg)
            elif verb.tag == "Gather":
                outcome = self._gather(verb, url, leg)
            elif verb.tag == "Redirect":
                target = resolve(url, verb.text)
                outcome = _Request(target, dict(leg.base), verb.get("method", "POST"))
            elif verb.tag == "Dial" and leg.taker:
                outcome = self._dial_queue(verb, url, leg)
            elif verb.tag == "Dial" and leg.officer:
                self._twilio_error(
                    f"<Dial> is not allowed in a <{leg.noun} url> whisper (Twilio error): "
                    "the officer's leg fails"
                )
                return "error"
            elif verb.tag == "Dial":
                outcome = self._dial(verb, url, leg)
            elif verb.tag == "Record" and leg.officer:
                self._out(f"{leg.prefix}(ignored <Record>: not played on the officer's leg)")
            elif verb.tag == "Record":
                outcome = self._record(verb, url, leg)
            elif verb.tag == "Enqueue" and not leg.officer:
                outcome = self._enqueue(verb, url, leg)
            elif verb.tag == "Hangup":
                self._out(f"{leg.prefix}📴 the hotline hung up")
                return "hangup"
            elif verb.tag == "Reject":
                self._out(f"{leg.prefix}⛔ call rejected ({verb.get('reason', 'rejected')})")
                return "hangup"
            else:
                self._out(f"{leg.prefix}(ignored <{verb.tag}>)")
            if outcome is not None:
                return outcome
        return "end-of-document"

    def _gather(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        for child in verb:
            if child.tag in SPOKEN:
                self._hear(child, url, leg)
            else:
                self._out(f"{leg.prefix}(ignored <{child.tag}> in <Gather>)")
        if self._machine:
            return "api-hangup"  # the machine says nothing we wait for; the REST hang-up comes
        if leg.officer:
            key = self._officer_key(leg)
            self._out(f"{leg.prefix}(the {leg.who} presses {key or 'nothing'})")
            answer: dict[str, str] | None = {"Digits": key} if key else None
        else:
            while True:
                try:
                    parsed = parse_input(self._next_input(PROMPT))
                    break
                except ValueError as exc:
                    if self.inputs is not None:
                        self._fail(str(exc))
                    self._out(f"({exc})")
            if parsed == "hangup":
                return "caller-hung-up"
            answer = parsed
        params, note = gather_result(verb, answer) if answer else (None, "")
        if note:
            self._out(leg.prefix + note)
        if self._queue is not None and leg is self._queue.caller:
            timeout = verb.get("timeout", "5")
            self._elapse(1.0 if params else float(timeout) if timeout.isdigit() else 5.0)
        action, method = resolve(url, verb.get("action")), verb.get("method", "POST")
        if params is not None:
            return _Request(action, {**leg.base, **params}, method)
        self._out(f"{leg.prefix}(no input)")
        if verb.get("actionOnEmptyResult", "").lower() == "true":
            return _Request(action, dict(leg.base), method)
        return None

    def _officer_key(self, leg: _Leg) -> str | None:
        """What the officer presses: the next `officer:` input, asked, or 1 (None: nothing)."""
        if self.inputs is None:
            while True:
                raw = self._next_input(OFFICER_PROMPT)
                try:
                    return None if raw == "hangup" else parse_officer_key(raw)
                except ValueError as exc:
                    self._out(f"({exc})")
        upcoming = self.inputs[self._next_input_at : self._next_input_at + 1]
        if upcoming and upcoming[0].strip().lower().startswith("officer:"):
            try:
                return parse_officer_key(self._next_input(""))
            except ValueError as exc:
                self._fail(str(exc))
        if leg.answers_left <= 0:
            return None
        leg.answers_left -= 1
        return "1"

    def _dial(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        targets, ignored = dial_targets(verb, url)
        for tag in ignored:
            self._out(f"(ignored <{tag}> in <Dial>)")
        self._out(dial_line(targets, verb.get("timeout")))
        for target in targets:
            if target.url:
                self._out(f"   whisper for {target.name}: {target.url}")
        outcome, dial_sid = self._dial_outcome(), new_sid("CA")
        action = resolve(url, verb.get("action")) if verb.get("action") is not None else None
        method = verb.get("method", "POST")
        if outcome == "hangup":
            # Twilio requests the action when the <Dial> ends, the caller's leg already gone;
            # the call is over, so whatever TwiML it answers is not played.
            self._out("☎ dial result: the caller hung up while the phones rang")
            if action is not None:
                result = dial_result(CALLER_HUNG_UP_DIAL_STATUS, dial_sid)
                params = {**leg.base, **result, "CallStatus": "completed"}
                self._fetch(_Request(action, params, method))
                self._out("(the call is over: Twilio ignores the TwiML answered)")
            return "caller-hung-up"
        if outcome == "completed" and targets:
            outcome, dial_sid = self._answered(targets, verb.get("callerId") or self.to_number)
        if outcome != "completed":
            self._out(f"☎ dial result: {outcome}")
        if action is None:
            return None
        return _Request(action, {**leg.base, **dial_result(outcome, dial_sid)}, method)

    def _answered(self, targets: list[DialTarget], caller_id: str) -> tuple[str, str]:
        """The phones answer, screened one by one as `screening` says; the outcome, leg's SID."""
        declined, sid = False, ""
        answering = targets if self.screening == "parallel" else targets[:1]
        for n, target in enumerate(answering):
            if n:
                self._out("   (parallel screening: the other phones kept ringing)")
            sid = new_sid("CA")
            self._out(f"☎ {target.name} answered")
            if not target.url:
                return "completed", sid
            result = self._officer_leg(target, caller_id, sid)
            if result == "accepted":
                return "completed", sid
            declined = declined or result == "declined"
        return ("no-answer" if declined else "failed"), sid

    def _dial_outcome(self) -> str:
        """The outcome of a <Dial>: the next scripted `dial:…` input, or asked interactively."""
        if self.inputs is not None:
            upcoming = self.inputs[self._next_input_at :]
            if not upcoming or not upcoming[0].strip().lower().startswith("dial:"):
                return "completed"
        prompt = f"dial outcome ({', '.join(DIAL_OUTCOMES)}; Enter = completed) > "
        while True:
            raw = self._next_input(prompt)
            outcome = parse_dial_outcome(raw)
            if outcome is not None:
                return outcome
            if self.inputs is not None:
                self._fail(f"unknown dial outcome {raw!r} (one of {', '.join(DIAL_OUTCOMES)})")
            self._out(f"(one of {', '.join(DIAL_OUTCOMES)}, or hangup)")

    def _officer_leg(self, target: DialTarget, caller_id: str, sid: str) -> LegResult:
        """Play the answering officer's leg (the <Number url> whisper); did they accept?"""
        base = leg_params(
            sid,
            self.account_sid,
            caller_id,
            target.name,
            Direction="outbound-dial",
            ParentCallSid=self.call_sid,
        )
        leg = _Leg(base, "   officer hears: ", officer=True, answers_left=1, noun=target.kind)
        how = self._drive(_Request(target.url or "", dict(base), target.method), leg)
        if how == "error":
            self._out("   the officer's leg failed: not connected")
            return "failed"
        if how == "hangup":
            self._out("   the officer's leg hung up: not connected")
            return "declined"
        self._out("   connected: the caller and the officer are talking")
        return "accepted"

    def _record(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        max_length, key = verb.get("maxLength", "3600"), verb.get("finishOnKey", "1234567890*#")
        self._out(f"● recording (max {max_length}s, finish with {key or 'silence'}) — speak now")
        raw = self._next_input("your message, or hangup > ").strip()
        if self.inputs is not None and misplaced_input(raw):
            self._fail(misplaced_input(raw).replace("the caller is asked", "a <Record> records"))
        hung_up = raw.lower() == "hangup"
        message = "" if hung_up else speech_text(raw)
        if not hung_up and message.lower() in ("", "silence"):
            # "If Twilio receives an empty recording, it will not make a request to the action
            # URL": the verbs after <Record> run instead.
            self._out("(empty recording: Twilio does not request the action; the next verb runs)")
            return None
        params, status = recording_webhooks(
            leg.base,
            message,
            hung_up=hung_up,
            max_length=max_length,
            finish_on_key=key,
            media_base=self.media_base,
        )
        followups: tuple[_Request, ...] = ()
        if verb.get("recordingStatusCallback"):
            callback = resolve(url, verb.get("recordingStatusCallback"))
            method = verb.get("recordingStatusCallbackMethod", "POST")
            followups = (_Request(callback, status, method),)
        action = resolve(url, verb.get("action"))
        request = _Request(action, params, verb.get("method", "POST"), followups)
        if not hung_up:
            return request
        self._steps += 1  # the call is over: Twilio posts the action but plays no answer
        for posted in (request, *followups):
            self._post(posted)
        return "caller-hung-up"

    # -- Twilio's queues -------------------------------------------------------------------

    def _enqueue(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        """Wait in the queue until the wait ends, then Twilio's Enqueue action (if any)."""
        name = text_of(verb)
        for child in verb:
            self._out(f"(ignored <{child.tag}> in <Enqueue>: TaskRouter is not simulated)")
        options = self.queue
        queue = _Queue(name, new_sid("QU"), leg, options.position, options.avg_wait_s)
        how_long = "in real time" if options.realtime else "simulated time, no real waiting"
        self._out(
            f"⏳ waiting in Twilio's queue {name!r}: position {queue.position} of "
            f"{queue.position} ({how_long}; the softphone sees no other callers)"
        )
        wait_url = verb.get("waitUrl")
        self._queue = queue
        try:
            result, ended = self._wait(
                queue, resolve(url, wait_url) if wait_url else None, verb.get("waitUrlMethod")
            )
        finally:
            self._queue = None
        self._extra_seconds += queue.seconds
        self._out(f"⏏ out of the queue after {clock(queue.seconds)}: QueueResult={result}")
        action = resolve(url, verb.get("action")) if verb.get("action") is not None else None
        method = verb.get("method", "POST")
        params = {**leg.base, "QueueResult": result, "QueueSid": queue.sid}
        params["QueueTime"] = queue.waited
        if ended is not None:
            # The call is over: Twilio still requests the action, and plays nothing it answers.
            if action is not None:
                self._fetch(_Request(action, {**params, "CallStatus": "completed"}, method))
                self._out("(the call is over: Twilio ignores the TwiML answered)")
            return ended
        if action is None:
            return None  # Twilio goes on with the verb after <Enqueue>
        return _Request(action, params, method)

    def _wait(self, queue: _Queue, wait_url: str | None, method: str | None) -> QueueEnd:
        """Round after round of the waitUrl document, until the caller leaves the queue."""
        rounds = 0
        while True:
            if self._taker_turn(queue):
                return "bridged", None
            try:
                ended = self._round(queue, rounds, wait_url, method)
            except _Bridged:
                return "bridged", None
            if ended is not None:
                return ended
            rounds += 1

    def _round(
        self, queue: _Queue, rounds: int, wait_url: str | None, method: str | None
    ) -> QueueEnd | None:
        """One round in the queue (the waitUrl document, once); None: the caller waits on."""
        if self._gives_up(rounds):
            self._out(
                f"📴 the caller hangs up after {rounds} round(s), "
                f"{clock(queue.seconds)} in the queue"
            )
            return "hangup", "caller-hung-up"
        self._out(
            f"⏳ {clock(queue.seconds)} in the queue, position {queue.position} "
            f"(round {rounds + 1})"
        )
        if wait_url is None:
            self._out(f"♪ (hold music: Twilio's default playlist, {DEFAULT_PLAY_S:.0f}s)")
            self._elapse(DEFAULT_PLAY_S)
            return None
        params = {**queue.caller.base, **queue.wait_params()}
        return self._wait_document(_Request(wait_url, params, method or "POST"), queue)

    def _gives_up(self, rounds: int) -> bool:
        """Whether the caller hangs up now: a scripted one after `rounds`, or when asked."""
        if self.inputs is not None:
            return rounds >= self.queue.rounds
        return rounds > 0 and self._next_input(QUEUE_PROMPT).strip().lower() == "hangup"

    def _wait_document(self, request: _Request, queue: _Queue) -> QueueEnd | None:
        """Play one waitUrl document, and those its <Gather> or <Redirect> lead to (still in
        the queue); None when it ends and Twilio requests the waitUrl again."""
        caller = queue.caller
        counted = False  # the waitUrl round itself; a Redirect or a Gather's action counts
        while True:
            root = self._fetch(request, counted=counted)
            counted, follow = True, None
            for verb in root:
                if verb.tag not in QUEUE_WAIT_VERBS:
                    self._twilio_error(
                        f"<{verb.tag}> is not allowed in a waitUrl document (Twilio plays "
                        f"only {', '.join(QUEUE_WAIT_VERBS)}): skipped"
                    )
                elif verb.tag in SPOKEN:
                    self._hear(verb, request.url, caller)
                elif verb.tag == "Gather":
                    outcome = self._gather(verb, request.url, caller)
                    if outcome == "caller-hung-up":
                        return "hangup", "caller-hung-up"
                    follow = outcome if isinstance(outcome, _Request) else None
                elif verb.tag == "Leave":
                    self._out("⏏ <Leave>: the caller leaves the queue")
                    return "leave", None
                elif verb.tag == "Redirect":
                    target = resolve(request.url, verb.text)
                    params = {**caller.base, **queue.wait_params()}
                    follow = _Request(target, params, verb.get("method", "POST"))
                else:  # Hangup
                    self._out("📴 the hotline hung up")
                    return "hangup", "hangup"
                if follow is not None:
                    break
            if follow is None:
                return None
            request = follow

    def _hear(self, verb: ET.Element, url: str, leg: _Leg) -> None:
        """Print a <Say>, <Play> or <Pause> of the document at `url`; in a queue, the
        caller's clock moves on by it."""
        queue = self._queue
        if queue is None or leg is not queue.caller:
            self._out(leg.prefix + spoken_line(verb))
            return
        if verb.tag == "Say":
            self._out(spoken_line(verb))
            self._elapse(say_seconds(verb))
            return
        if verb.tag == "Pause" or verb.get("digits"):
            self._out(spoken_line(verb))
            pause = verb.get("length", "1") if verb.tag == "Pause" else "1"
            self._elapse(float(pause) if pause.isdigit() else 1.0)
            return
        audio = resolve(url, text_of(verb))
        name = audio.rstrip("/").rsplit("/", 1)[-1] or audio
        times, length = loops(verb), self._media_seconds(audio)
        if length is None:
            each = f"length unknown, counted as {DEFAULT_PLAY_S:.0f}s"
        else:
            each = f"{length:.0f}s"
        self._out(f"♪ (hold music: {name}, {each}{f' ×{times}' if times > 1 else ''})")
        self._elapse((DEFAULT_PLAY_S if length is None else length) * times)

    def _elapse(self, seconds: float) -> None:
        """The caller waits in the queue for `seconds` (for real only when realtime). If the
        call-taker answers meanwhile and takes them, what they hear stops there (_Bridged)."""
        queue = self._queue
        assert queue is not None  # noqa: S101 (only called while the caller waits)
        due = self.queue.taker_after_s
        if (
            due is not None
            and not queue.taker_tried
            and queue.seconds < due <= queue.seconds + seconds
        ):
            before = due - queue.seconds
            self._wait_for(queue, before)
            if self._taker_turn(queue):
                raise _Bridged
            seconds -= before
        self._wait_for(queue, seconds)

    def _wait_for(self, queue: _Queue, seconds: float) -> None:
        queue.seconds += seconds
        if self.queue.realtime and seconds > 0:
            self.sleep_func(seconds)

    def _media_seconds(self, url: str) -> float | None:
        """The length of a WAV the hotline serves, fetched once as Twilio would (GET)."""
        if url in self._media:
            return self._media[url]
        getter = getattr(self.transport, "get", None)
        length: float | None = None
        if callable(getter) and url.startswith(self.public_base_url + "/"):
            try:
                result: HttpResult = getter(self._transport_path(url))
            except (OSError, http.client.HTTPException):
                result = HttpResult(0, "", b"")
            length = wav_seconds(result.body) if result.status == 200 else None
        self._media[url] = length
        return length

    def _taker_turn(self, queue: _Queue) -> bool:
        """Once the caller has waited `taker_after_s`, the call-taker answers the hotline's
        call and takes the caller; whether they were put through."""
        after = self.queue.taker_after_s
        if after is None or queue.taker_tried or queue.seconds < after:
            return False
        queue.taker_tried = True
        assert self.taker_offer is not None  # noqa: S101 (checked in __init__)
        try:
            offer = self.taker_offer(queue.name)
        except LookupError as exc:  # no call rings the call-taker, and why
            self._out(f"☎ {exc}: the caller keeps waiting")
            return False
        if offer is None:
            self._out(
                "☎ the hotline has rung no call-taker for this queue (is its job worker, "
                "`hotline worker`, running?): the caller keeps waiting"
            )
            return False
        who = f"{offer.name} ({offer.to_number})" if offer.name else offer.to_number
        self._out(
            f"☎ after {clock(queue.seconds)} call-taker {who} answers the hotline's call "
            f"{offer.call_sid} (simulated: on a real line Twilio places that call and the "
            "desk phone answers it)"
        )
        base = leg_params(
            offer.call_sid,
            self.account_sid,
            offer.from_number,
            offer.to_number,
            Direction="outbound-api",
        )
        prefix = "   call-taker hears: "
        leg = _Leg(base, prefix, officer=True, answers_left=1, who="call-taker", taker=True)
        how = self._drive(_Request(offer.url, dict(base), offer.method), leg)
        # About 10 s of the offer's prompt and key, then the talk if they took the caller.
        duration = 10 + (TALK_S if queue.bridged else 0)
        status = {**base, "CallStatus": "completed", "CallDuration": str(duration)}
        self._post(_Request(offer.status_callback, status, offer.status_method))
        if queue.bridged:
            self._extra_seconds += TALK_S
            return True
        ended = "hung up" if how == "hangup" else "ended"
        self._out(f"   the call-taker's leg {ended} without taking the caller: they keep waiting")
        return False

    def _dial_queue(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        """A call-taker's `<Dial><Queue>`: the caller waiting in that queue is put through."""
        targets, ignored = dial_targets(verb, url)
        for tag in ignored:
            self._out(f"   (ignored <{tag}> in <Dial>)")
        self._out(f"   call-taker's leg: {dial_line(targets, verb.get('timeout'))}")
        queue = self._queue
        target = next(
            (t for t in targets if t.kind == "Queue" and queue and t.name == queue.name), None
        )
        if queue is None or target is None:
            self._out(
                "   (the softphone plays only its own caller's queue here: the <Dial> finds "
                "nobody and ends when it times out)"
            )
            outcome, dial_sid = "no-answer", new_sid("CA")
        else:
            self._connect(target, queue, leg)
            outcome, dial_sid = "completed", queue.caller.base["CallSid"]
        if verb.get("action") is None:
            return None
        action, method = resolve(url, verb.get("action")), verb.get("method", "POST")
        return _Request(action, {**leg.base, **dial_result(outcome, dial_sid)}, method)

    def _connect(self, target: DialTarget, queue: _Queue, taker: _Leg) -> None:
        """The `<Queue url>` runs on the caller (their CallSid), then the two talk."""
        caller = queue.caller
        request: _Request | None = None
        if target.url:
            params = {**caller.base, "QueueSid": queue.sid, "QueueTime": queue.waited}
            params["DequeingCallSid"] = taker.base["CallSid"]
            request = _Request(target.url, params, target.method)
        while request is not None:
            root, follow = self._fetch(request), None
            for verb in root:
                if verb.tag in SPOKEN:
                    self._out(spoken_line(verb))
                elif verb.tag == "Redirect":
                    target_url = resolve(request.url, verb.text)
                    follow = _Request(target_url, dict(caller.base), verb.get("method", "POST"))
                    break
                else:
                    self._twilio_error(
                        f"<{verb.tag}> is not allowed in a <Queue url> document (Twilio plays "
                        f"only {', '.join(QUEUE_URL_VERBS)}): skipped"
                    )
            request = follow
        queue.bridged = True
        self._out(f"   connected: the caller and the call-taker are talking ({TALK_S}s)")
        self._out("   the call-taker hangs up; the caller's call goes on with the Enqueue action")

    # -- the caller ------------------------------------------------------------------------

    def _next_input(self, prompt: str) -> str:
        if self.inputs is None:
            try:
                return self.input_func(prompt)
            except (EOFError, KeyboardInterrupt):
                return "hangup"
        raw = ""
        if self._next_input_at < len(self.inputs):
            raw = self.inputs[self._next_input_at]
            self._next_input_at += 1
        self._out(f"» {raw or 'silence'}")
        return raw

    def _out(self, line: str) -> None:
        self._transcript.append(line)
        self.output_func(line)


@click.command("call")
@click.option(
    "--base-url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where the hotline server listens.",
)
@click.option(
    "--public-url",
    default=None,
    help="The URL Twilio would use (PUBLIC_BASE_URL); signatures use it. [default: --base-url]",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    help="A scripted input, used in order: for the caller 1, 12#, say:words, say@0.4:words, "
    "silence, hangup, or a message for <Record>; for a <Dial> dial:busy, dial:no-answer, "
    "dial:failed, dial:canceled or dial:hangup (the caller hangs up while the phones ring); for "
    "the answering officer's (or call-taker's) <Gather> officer:1, officer:# or officer:none "
    "(without one they press 1). Any --input makes the call non-interactive.",
)
@click.option(
    "--screening",
    type=click.Choice(SCREENING),
    default="exclusive",
    show_default=True,
    help="When several phones ring and the first to answer declines the whisper: the <Dial> "
    "ends (exclusive), or the next phone answers and is screened in turn (parallel).",
)
@click.option("--from", "from_number", default=DEFAULT_CALLER, show_default=True)
@click.option("--to", "to_number", default=None, help="[default: HOTLINE_NUMBER]")
@click.option("--auth-token", default=None, help="[default: TWILIO_AUTH_TOKEN]")
@click.option("--account-sid", default=None, help="[default: TWILIO_ACCOUNT_SID]")
@click.option(
    "--survey",
    "survey_case",
    default=None,
    metavar="CASE",
    help="Be the caller answering the survey call placed for case CASE (see `hotline surveys "
    "dial`), instead of calling the hotline.",
)
@click.option(
    "--answered-by",
    default="human",
    show_default=True,
    type=click.Choice(ANSWERED_BY),
    help="With --survey: what Twilio's answering-machine detection reports. It runs in the "
    "background: the first question plays at once and the result is posted to "
    "/voice/survey/amd as it plays; on a machine_… or fax verdict the callee answers nothing "
    "and the hotline ends the call.",
)
@click.option(
    "--queue-position",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="In a Twilio queue (<Enqueue>): the caller's QueuePosition (and CurrentQueueSize: "
    "the softphone sees no other callers, so it stays there).",
)
@click.option(
    "--avg-queue-time",
    type=click.IntRange(0, 86400),
    default=0,
    show_default=True,
    metavar="S",
    help="In a queue: the AvgQueueTime Twilio reports, in seconds.",
)
@click.option(
    "--queue-rounds",
    type=click.IntRange(1, 200),
    default=6,
    show_default=True,
    help="In a queue: a scripted caller hangs up after this many rounds of the waitUrl "
    "(QueueResult=hangup), unless they left or were put through first. Each round moves the "
    "simulated QueueTime on by what the caller heard.",
)
@click.option(
    "--realtime",
    is_flag=True,
    help="In a queue: really wait as long as what the caller hears (else time is simulated).",
)
@click.option(
    "--taker",
    metavar="NAME",
    default=None,
    help="In a queue: play call-taker NAME answering the call the hotline places to their "
    "desk phone (read from the hotline's database, DATABASE_URL, as --survey does; the job "
    "worker must be running), pressing 1 (or an officer:… input), and taking the caller.",
)
@click.option(
    "--taker-answers-after",
    type=click.IntRange(0, 86400),
    default=None,
    metavar="S",
    help="With --taker: the call-taker answers once the caller has waited S seconds of "
    f"queue time. [default: {TAKER_ANSWERS_AFTER_S}]",
)
def call_command(
    base_url: str,
    public_url: str | None,
    inputs: tuple[str, ...],
    from_number: str,
    to_number: str | None,
    auth_token: str | None,
    account_sid: str | None,
    survey_case: str | None,
    answered_by: str,
    screening: Screening,
    queue_position: int,
    avg_queue_time: int,
    queue_rounds: int,
    realtime: bool,
    taker: str | None,
    taker_answers_after: int | None,
) -> None:
    """Call the hotline from this terminal, exactly as Twilio would (no Twilio account needed)."""
    ctx = click.get_current_context()
    transport, public = _transport(base_url), public_url or base_url
    scripted = list(inputs) if inputs else None
    if taker_answers_after is not None and taker is None:
        raise click.UsageError("--taker-answers-after needs --taker NAME (who answers)")
    if taker is not None and survey_case is not None:
        raise click.UsageError("--taker plays a call to the hotline's queue, not --survey")
    offer: Callable[[str], TakerLeg | None] | None = None
    if taker is not None:
        try:
            from app import create_app

            hotline = create_app(Settings.from_env())
            desk_offer(hotline, taker, "desk")  # is there such a call-taker?
        except (SettingsError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        offer = offer_poller(hotline, taker, output=click.echo)
    if taker is not None and taker_answers_after is None:
        taker_answers_after = TAKER_ANSWERS_AFTER_S
    queue = QueueOptions(
        position=queue_position,
        avg_wait_s=avg_queue_time,
        rounds=queue_rounds,
        realtime=realtime,
        taker_after_s=taker_answers_after,
    )
    if survey_case is not None:
        try:
            from app import create_app

            leg = survey_leg(create_app(Settings.from_env()), survey_case)
        except (SettingsError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        phone = survey_softphone(
            leg,
            answered_by,
            transport=transport,
            public_base_url=public,
            auth_token=auth_token,
            account_sid=account_sid,
            inputs=scripted,
            output_func=click.echo,
            screening=screening,
        )
        click.echo(f"📲 the hotline's survey call for case {survey_case} rings {leg.to_number}")
        ctx.exit(phone.run().exit_code)
    if to_number is None or auth_token is None or account_sid is None:
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            click.echo(f"hotline: configuration error: {exc}", err=True)
            ctx.exit(2)
        to_number = to_number or settings.hotline_number
        auth_token = auth_token or settings.twilio_auth_token
        account_sid = account_sid or settings.twilio_account_sid
    phone = Softphone(
        transport=transport,
        public_base_url=public,
        auth_token=auth_token,
        account_sid=account_sid,
        from_number=from_number,
        to_number=to_number,
        inputs=scripted,
        output_func=click.echo,
        screening=screening,
        queue=queue,
        taker_offer=offer,
    )
    ctx.exit(phone.run().exit_code)


def _reason(exc: Exception) -> str:
    """What went wrong on the network, in a few words ("connection refused", "timed out")."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, http.client.HTTPException) and not isinstance(reason, OSError):
        return f"no proper HTTP answer: {type(reason).__name__} {reason}".strip()
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return str(reason) or type(reason).__name__


def _transport(base_url: str) -> HttpTransport:
    try:
        return HttpTransport(base_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from None


def survey_leg(app: Flask, case_number: str) -> SurveyLeg:
    """The attempt on the line for `case_number`, from the app's database.

    Raises LookupError (with what to do) when no survey call of the case is being placed.
    """
    from core import db
    from surveys import attempts, service, urls
    from surveys.models import SurveyState

    settings: Settings = app.extensions["hotline.settings"]
    with app.app_context():
        found = service.surveys_of(db.session(), case_number)
        if not found:
            raise LookupError(f"case {case_number} has no survey yet (is it resolved?)")
        survey = found[-1]
        if survey.state is not SurveyState.DIALING:
            raise LookupError(
                f"no survey call is being placed for case {case_number}: the survey is "
                f"{survey.state.value} (place one with `hotline surveys dial {case_number}`)"
            )
        attempt = attempts.attempt_row(db.session(), survey.id, survey.attempts)
        answer_url, status_url = urls.call_urls(settings, survey.id, survey.attempts)
        amd_url = urls.amd_url(settings, survey.id, survey.attempts)
        base = settings.public_base_url.rstrip("/")
        return SurveyLeg(
            call_sid=(attempt.call_sid if attempt and attempt.call_sid else new_sid("CA")),
            from_number=settings.hotline_number,
            to_number=survey.caller_number or DEFAULT_CALLER,
            answer_path=answer_url.removeprefix(base),
            status_path=status_url.removeprefix(base),
            amd_path=amd_url.removeprefix(base),
            auth_token=settings.twilio_auth_token,
            account_sid=settings.twilio_account_sid,
        )


def survey_softphone(
    leg: SurveyLeg,
    answered_by: str,
    *,
    transport: Transport,
    public_base_url: str,
    auth_token: str | None = None,
    account_sid: str | None = None,
    inputs: Sequence[str] | None = None,
    output_func: Callable[[str], object] = print,
    screening: Screening = "exclusive",
) -> Softphone:
    """The callee of survey call `leg`; detection (AsyncAmd) reports `answered_by` meanwhile."""
    return Softphone(
        transport=transport,
        public_base_url=public_base_url,
        auth_token=auth_token or leg.auth_token,
        account_sid=account_sid or leg.account_sid,
        from_number=leg.from_number,
        to_number=leg.to_number,
        inputs=inputs,
        output_func=output_func,
        incoming_path=leg.answer_path,
        status_path=leg.status_path,
        call_sid=leg.call_sid,
        leg_extra={"Direction": "outbound-api"},
        first_status="in-progress",
        screening=screening,
        amd_callback=(leg.amd_path, answered_by),
    )


def desk_offer(app: Flask, username: str, queue: str) -> TakerLeg | None:
    """The call the hotline placed to call-taker `username` for a caller of `queue`, as Twilio
    received it (its SID, the desk phone, the answer URL and status callback that
    desk.service.offer gives it); None while no call rings them.

    Raises LookupError (with what to do) when there is no such call-taker, or when the call
    has rung past its Timeout: Twilio has ended it, but no status callback said so.
    """
    from core import db
    from core.db import utcnow
    from desk import service
    from desk.models import TakerState

    settings: Settings = app.extensions["hotline.settings"]
    with app.app_context():
        found = service.taker(db.session(), username)
        if found is None:
            raise LookupError(
                f"no call-taker {username!r}: sign one in with `hotline desk state {username} "
                "available --phone P`"
            )
        if (
            found.state is not TakerState.ON_CALL
            or found.leg_sid is None  # chosen, the REST call not placed yet
            or found.accepted_at is not None  # already answered
            or found.caller_sid is not None
        ):
            return None
        ringing = (utcnow() - found.state_since).total_seconds()
        if ringing > settings.desk_ring_s + RING_GRACE_S:
            raise LookupError(
                f"the hotline's call to {username} ({found.leg_sid}) has rung for "
                f"{ringing:.0f}s, past its Timeout (DESK_RING_S={settings.desk_ring_s}): "
                "Twilio has ended it as no-answer, but no status callback told the hotline "
                "(the demo's Twilio mock never sends one); sign them out and in again "
                f"(`hotline desk state {username} logged_out`, then `available`)"
            )
        return TakerLeg(
            call_sid=found.leg_sid,
            from_number=settings.hotline_number,
            to_number=found.phone,
            url=settings.public_url(f"/voice/desk/taker?taker={found.id}&queue={queue}"),
            status_callback=settings.public_url(f"/voice/desk/taker-status?taker={found.id}"),
            name=found.username,
        )


def offer_poller(
    app: Flask,
    username: str,
    *,
    wait_s: float = OFFER_WAIT_S,
    output: Callable[[str], object] = print,
    sleep: Callable[[float], object] = time.sleep,
    now: Callable[[], float] = time.monotonic,
) -> Callable[[str], TakerLeg | None]:
    """A `taker_offer` for the Softphone: the hotline's call to `username`, waited for (in real
    time, up to `wait_s`) as the job worker places it a moment after the caller joins."""

    def find(queue: str) -> TakerLeg | None:
        deadline, told = now() + wait_s, False
        while True:
            found = desk_offer(app, username, queue)
            if found is not None or now() >= deadline:
                return found
            if not told:
                output(
                    f"(waiting up to {wait_s:.0f}s, in real time, for the hotline's job worker "
                    f"to ring {username}'s desk phone)"
                )
                told = True
            sleep(0.25)

    return find
