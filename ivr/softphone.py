"""`hotline call`: a terminal softphone that calls a running hotline exactly as Twilio would.

It posts signed webhooks, plays the TwiML it gets back (Say, Play, Pause, Gather, Redirect, Dial,
Record, Hangup, Reject) and lets a person at the keyboard, or a script of inputs, be the caller.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn, Protocol, TypeAlias
from urllib.parse import urlencode, urlsplit

import click
from twilio.request_validator import RequestValidator

from config.settings import Settings, SettingsError
from ivr.softphone_twiml import (
    DIAL_OUTCOMES,
    SPOKEN,
    DialTarget,
    body_excerpt,
    dial_targets,
    error_reason,
    gather_result,
    leg_params,
    new_sid,
    parse_input,
    recording_webhooks,
    resolve,
    speech_text,
    spoken_line,
    transport_path,
)

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

EndedHow = Literal["hangup", "end-of-document", "error", "too-many-steps", "caller-hung-up"]
DEFAULT_CALLER = "+8613800138000"
PROMPT = "keys, say:words, or Enter for silence > "


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


class FlaskTransport:
    """Posts to a Flask test client, for tests and demos without a network."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        """POST `params` to `path` through the test client."""
        response = self.client.post(path, data=dict(params), headers=dict(headers))
        return HttpResult(response.status_code, response.content_type or "", response.get_data())


@dataclass
class CallResult:
    """How a simulated call went: exit code, what was printed and what was posted."""

    exit_code: int
    call_sid: str
    transcript: list[str]
    requests: list[tuple[str, dict[str, str]]]
    ended_how: EndedHow


class _Stop(Exception):
    """Ends the call at once (an HTTP or TwiML error, or too many steps)."""

    def __init__(self, how: EndedHow) -> None:
        super().__init__(how)
        self.how: EndedHow = how


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
    answers_left: int = 0


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
    ) -> None:
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
        #: call's Direction and AnsweredBy, say).
        self.leg_extra = dict(leg_extra or {})
        self.first_status = first_status
        #: Where the recordings' RecordingUrl points (a local stand-in for Twilio in tests).
        self.media_base = media_base
        self._validator = RequestValidator(auth_token)
        self._transcript: list[str] = []
        self._requests: list[tuple[str, dict[str, str]]] = []
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
        if how != "error":
            duration = str(3 * self._steps)
            status = {**base, "CallStatus": "completed", "CallDuration": duration}
            try:
                self._post(_Request(self._absolute(self.status_path), status))
                self._out(f"call ended ({how}) after {duration}s")
            except _Stop as stop:
                how = stop.how
        exit_code = {"error": 1, "too-many-steps": 2}.get(how, 0)
        return CallResult(exit_code, self.call_sid, self._transcript, self._requests, how)

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
        except OSError as exc:
            self._fail(f"POST {path} failed: {exc}")
        if not 200 <= result.status < 300:
            self._fail(f"POST {path}: {error_reason(result.status, result.body)}")
        return result

    def _fetch(self, request: _Request) -> ET.Element:
        """POST a webhook that must answer TwiML, then its follow-ups; the parsed <Response>."""
        self._steps += 1
        if self._steps > self.max_steps:
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

    def _fail(self, message: str) -> NoReturn:
        self._out(f"✖ {message}")
        raise _Stop("error")

    # -- TwiML -----------------------------------------------------------------------------

    def _drive(self, request: _Request, leg: _Leg) -> EndedHow:
        """Fetch and play documents on `leg` until one ends the leg."""
        while True:
            outcome = self._execute(self._fetch(request), request.url, leg)
            if not isinstance(outcome, _Request):
                return outcome
            request = outcome

    def _execute(self, root: ET.Element, url: str, leg: _Leg) -> _Request | EndedHow:
        """Play one document's verbs; the next webhook to fetch, or how the leg ended."""
        for verb in root:
            outcome: _Next = None
            if verb.tag in SPOKEN:
                self._out(leg.prefix + spoken_line(verb))
            elif verb.tag == "Gather":
                outcome = self._gather(verb, url, leg)
            elif verb.tag == "Redirect":
                target = resolve(url, verb.text)
                outcome = _Request(target, dict(leg.base), verb.get("method", "POST"))
            elif verb.tag == "Dial" and not leg.officer:
                outcome = self._dial(verb, url, leg)
            elif verb.tag == "Record" and not leg.officer:
                outcome = self._record(verb, url, leg)
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
                self._out(leg.prefix + spoken_line(child))
            else:
                self._out(f"{leg.prefix}(ignored <{child.tag}> in <Gather>)")
        action, method = resolve(url, verb.get("action")), verb.get("method", "POST")
        if leg.officer:
            if leg.answers_left <= 0:
                return None
            leg.answers_left -= 1
            self._out(f"{leg.prefix}(the officer presses 1)")
            return _Request(action, {**leg.base, "Digits": "1"}, method)
        while True:
            try:
                answer = parse_input(self._next_input(PROMPT))
                break
            except ValueError as exc:
                if self.inputs is not None:
                    self._fail(str(exc))
                self._out(f"({exc})")
        if answer == "hangup":
            return "caller-hung-up"
        params, note = gather_result(verb, answer) if answer else (None, "")
        if note:
            self._out(note)
        if params is not None:
            return _Request(action, {**leg.base, **params}, method)
        self._out("(no input)")
        if verb.get("actionOnEmptyResult", "").lower() == "true":
            return _Request(action, dict(leg.base), method)
        return None

    def _dial(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        targets, ignored = dial_targets(verb, url)
        for tag in ignored:
            self._out(f"(ignored <{tag}> in <Dial>)")
        names = ", ".join(target.name for target in targets) or "nobody"
        self._out(f"☎ dialing {names} (timeout {verb.get('timeout', '30')}s)")
        for target in targets:
            if target.url:
                self._out(f"   whisper for {target.name}: {target.url}")
        outcome = self._dial_outcome()
        if outcome == "hangup":
            return "caller-hung-up"
        dial_sid = new_sid("CA")
        if outcome == "completed" and targets:
            self._out(f"☎ {targets[0].name} answered")
            if targets[0].url:
                caller_id = verb.get("callerId") or self.to_number
                outcome = self._officer_leg(targets[0], caller_id, dial_sid)
        if outcome != "completed":
            self._out(f"☎ dial result: {outcome}")
        if verb.get("action") is None:
            return None
        result = {
            "DialCallStatus": outcome,
            "DialCallSid": dial_sid,
            "DialCallDuration": "42" if outcome == "completed" else "0",
            # Twilio says whether the two legs were bridged (a screened leg that hung up can
            # still be "completed").
            "DialBridged": "true" if outcome == "completed" else "false",
        }
        action = resolve(url, verb.get("action"))
        return _Request(action, {**leg.base, **result}, verb.get("method", "POST"))

    def _dial_outcome(self) -> str:
        """The outcome of a <Dial>: the next scripted `dial:…` input, or asked interactively."""
        if self.inputs is not None:
            upcoming = self.inputs[self._next_input_at :]
            if not upcoming or not upcoming[0].strip().lower().startswith("dial:"):
                return "completed"
        prompt = f"dial outcome ({', '.join(DIAL_OUTCOMES)}; Enter = completed) > "
        while True:
            raw = self._next_input(prompt).strip().lower().removeprefix("dial:").strip()
            if (raw or "completed") in (*DIAL_OUTCOMES, "hangup"):
                return raw or "completed"
            if self.inputs is not None:
                self._fail(f"unknown dial outcome {raw!r} (one of {', '.join(DIAL_OUTCOMES)})")
            self._out(f"(one of {', '.join(DIAL_OUTCOMES)}, or hangup)")

    def _officer_leg(self, target: DialTarget, caller_id: str, sid: str) -> str:
        """Play the answering officer's leg (the <Number url> whisper); the dial outcome."""
        base = leg_params(
            sid,
            self.account_sid,
            caller_id,
            target.name,
            Direction="outbound-dial",
            ParentCallSid=self.call_sid,
        )
        leg = _Leg(base, prefix="   officer hears: ", officer=True, answers_left=1)
        if self._drive(_Request(target.url or "", dict(base), target.method), leg) == "hangup":
            self._out("   the officer's leg hung up: not connected")
            return "no-answer"
        self._out("   connected: the caller and the officer are talking")
        return "completed"

    def _record(self, verb: ET.Element, url: str, leg: _Leg) -> _Next:
        max_length, key = verb.get("maxLength", "3600"), verb.get("finishOnKey", "1234567890*#")
        self._out(f"● recording (max {max_length}s, finish with {key or 'silence'}) — speak now")
        raw = self._next_input("your message, or hangup > ").strip()
        hung_up = raw.lower() == "hangup"
        message = "" if hung_up else speech_text(raw)
        if not hung_up and message.lower() in ("", "silence"):
            self._out("(nothing recorded: Twilio skips the action and goes on)")
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
    help="A scripted caller input, used in order: 1, 12#, say:words, say@0.4:words, silence, "
    "hangup, dial:busy, or a message for <Record>. Any --input makes the call non-interactive.",
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
    type=click.Choice(["human", "unknown", "machine_start", "machine_end_beep", "fax"]),
    help="With --survey: what Twilio's answering-machine detection reports.",
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
) -> None:
    """Call the hotline from this terminal, exactly as Twilio would (no Twilio account needed)."""
    ctx = click.get_current_context()
    if survey_case is not None:
        try:
            from app import create_app

            leg = survey_leg(create_app(Settings.from_env()), survey_case)
        except (SettingsError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        phone = Softphone(
            transport=_transport(base_url),
            public_base_url=public_url or base_url,
            auth_token=auth_token or leg.auth_token,
            account_sid=account_sid or leg.account_sid,
            from_number=leg.from_number,
            to_number=leg.to_number,
            inputs=list(inputs) if inputs else None,
            output_func=click.echo,
            incoming_path=leg.answer_path,
            status_path=leg.status_path,
            call_sid=leg.call_sid,
            leg_extra={"Direction": "outbound-api", "AnsweredBy": answered_by},
            first_status="in-progress",
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
        transport=_transport(base_url),
        public_base_url=public_url or base_url,
        auth_token=auth_token,
        account_sid=account_sid,
        from_number=from_number,
        to_number=to_number,
        inputs=list(inputs) if inputs else None,
        output_func=click.echo,
    )
    ctx.exit(phone.run().exit_code)


def _transport(base_url: str) -> HttpTransport:
    try:
        return HttpTransport(base_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from None


@dataclass(frozen=True)
class SurveyLeg:
    """The survey call a case's caller is about to answer, as Twilio would present it."""

    call_sid: str
    from_number: str
    to_number: str
    answer_path: str
    status_path: str
    auth_token: str
    account_sid: str


def survey_leg(app: Flask, case_number: str) -> SurveyLeg:
    """The attempt on the line for `case_number`, from the app's database.

    Raises LookupError (with what to do) when no survey call of the case is being placed.
    """
    from core import db
    from surveys import dialer, service
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
        attempt = dialer.attempt_row(db.session(), survey.id, survey.attempts)
        answer_url, status_url = dialer.call_urls(settings, survey.id, survey.attempts)
        base = settings.public_base_url.rstrip("/")
        return SurveyLeg(
            call_sid=(attempt.call_sid if attempt and attempt.call_sid else new_sid("CA")),
            from_number=settings.hotline_number,
            to_number=survey.caller_number or DEFAULT_CALLER,
            answer_path=answer_url.removeprefix(base),
            status_path=status_url.removeprefix(base),
            auth_token=settings.twilio_auth_token,
            account_sid=settings.twilio_account_sid,
        )
