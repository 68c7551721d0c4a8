"""The desk queue's webhooks: the caller's side (`<Enqueue>`'s waitUrl, the call-back offer,
the Enqueue action) and the call-taker's leg (the offer they accept with a key, `<Dial><Queue>`,
its end), and the hold audio Twilio plays between announcements.

What Twilio allows where (twilio.com/docs/voice/twiml/enqueue, …/queue): a waitUrl document
may hold <Play>, <Say>, <Pause>, <Hangup>, <Redirect>, <Leave> and <Gather>; the <Queue url>
document, run on the caller just before the two are connected, <Play>, <Say>, <Pause> and
<Redirect>. Twilio's waitUrl request carries QueuePosition, QueueTime, AvgQueueTime and
CurrentQueueSize; the Enqueue action, QueueResult and QueueTime.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, Response, abort, request, send_file
from twilio.twiml.voice_response import VoiceResponse

from calls.webhook import accept_call_webhook
from core import categories, db, voice, webhooks
from core.db import utcnow
from core.inputs import BadInput, digits_or_none, whole_number
from desk import service
from desk.models import QueueResult
from desk.twiml import language as _language
from desk.twiml import say
from routing.bridge import DESK, DOUBT
from routing.service import start_bridge

bp = webhooks.protect(Blueprint("desk", __name__, url_prefix="/voice/desk"))
#: The hold audio: Twilio fetches it with a plain GET (not a signed webhook).
audio = Blueprint("desk_audio", __name__, url_prefix="/desk-audio")
HOLD_AUDIO = Path(__file__).with_name("hold.wav")
#: How long the hold audio plays between two announcements (its length × loops).
HOLD_LOOPS = 2

#: Twilio's QueueResult values and what they mean for the caller's wait.
TWILIO_RESULTS = {
    "bridged": QueueResult.BRIDGED,
    "bridging-in-process": QueueResult.BRIDGED,
    "hangup": QueueResult.HANGUP,
    "leave": QueueResult.CALLBACK,
    "redirected": QueueResult.FAILED,
    "queue-full": QueueResult.FAILED,
    "error": QueueResult.FAILED,
    "system-error": QueueResult.FAILED,
}


@bp.post("/wait")
def wait() -> Response:
    """What a waiting caller hears, again and again: their place, the recent average wait, the
    call-back offer once they have waited long enough, then hold audio."""
    params = webhooks.params()
    language = _language()
    position = digits_or_none(params.get("QueuePosition"), 5) or 1
    waited = digits_or_none(params.get("QueueTime"), 6) or 0
    average = digits_or_none(params.get("AvgQueueTime"), 6) or 0
    response = VoiceResponse()
    if position <= 1:
        say(response, language, "next")
    else:
        say(response, language, "position", ahead=position - 1)
    if average >= 60:
        say(response, language, "average", minutes=round(average / 60))
    found = service.entry(db.session(), params.get("CallSid", "")[:34])
    if found is not None and found.queue == service.URGENT_QUEUE:
        if waited >= service.URGENT_MAX_WAIT_S:
            response = VoiceResponse()
            response.leave()  # the Enqueue action puts them through to the desk's roster route
        else:
            response.play(webhooks.settings().public_url("/desk-audio/hold.wav"))
        return webhooks.twiml(response)
    if waited >= webhooks.settings().desk_callback_offer_s and found and found.caller_number:
        gather = response.gather(
            num_digits=1,
            timeout=4,
            action=webhooks.settings().public_url(f"/voice/desk/offer?lang={language}"),
            method="POST",
        )
        say(gather, language, "offer")
    response.play(webhooks.settings().public_url("/desk-audio/hold.wav"), loop=HOLD_LOOPS)
    return webhooks.twiml(response)


@bp.post("/offer")
def offer() -> Response:
    """The call-back offer's key: 1 leaves the queue (the Enqueue action records it); anything
    else, and the caller keeps waiting (an empty document: Twilio asks the waitUrl again)."""
    params = webhooks.params()
    response = VoiceResponse()
    session = db.session()
    caller = params.get("CallSid", "")[:34]
    if params.get("Digits") == "1" and service.ask_callback(session, caller):
        session.commit()
        response.leave()
    return webhooks.twiml(response)


@bp.post("/direct")
def direct() -> Response:
    """Put a caller the queue could not serve through to the desk's roster route (as before
    there was a queue): a possibly urgent caller nobody took in time, or Twilio's queue error."""
    report = accept_call_webhook()
    found = service.entry(db.session(), report.call_sid)
    urgent = found is not None and found.queue == service.URGENT_QUEUE
    response = start_bridge(
        VoiceResponse(), report.call_sid, DOUBT if urgent else DESK, _language()
    )
    db.session().commit()
    return webhooks.twiml(response)


@bp.post("/left")
def left() -> Response:
    """The Enqueue action: how the wait ended. Left for a call-back, the caller hears that it is
    kept; if Twilio could not queue them, they are put through to the desk directly."""
    report = accept_call_webhook()
    params = webhooks.params()
    language = _language()
    result = TWILIO_RESULTS.get(params.get("QueueResult", ""), QueueResult.FAILED)
    waited = digits_or_none(params.get("QueueTime"), 6)
    session = db.session()
    found = service.left(session, report.call_sid, result, wait_s=waited)
    session.commit()
    if found is not None:
        result = found.result  # a <Leave> without the offer's key is a hand-over, not a call-back
    response = VoiceResponse()
    if result is QueueResult.CALLBACK:
        say(response, language, "callback")
        response.hangup()
    elif result is QueueResult.FAILED and found is not None:
        # Nobody is lost: the desk's roster route rings instead.
        response.redirect(
            webhooks.settings().public_url(f"/voice/desk/direct?lang={language}"), method="POST"
        )
    return webhooks.twiml(response)


@bp.post("/taker")
def taker() -> Response:
    """The call-taker's phone answered: they hear what is waiting and press a key to take it
    (a voicemail never does, so it never takes a caller)."""
    webhooks.params()
    taker_id = _taker_id()
    response = VoiceResponse()
    language = voice.languages().default
    if "task" in request.args:  # a call-back
        target, words = f"task={_task_id()}", "callback_taker"
    else:
        queue = _queue()
        target = f"queue={queue}"
        words = "urgent_taker" if queue == service.URGENT_QUEUE else "offer_taker"
    gather = response.gather(
        num_digits=1,
        timeout=8,
        action=webhooks.settings().public_url(f"/voice/desk/accept?taker={taker_id}&{target}"),
        method="POST",
    )
    say(gather, language, words)
    response.hangup()
    return webhooks.twiml(response)


@bp.post("/accept")
def accept() -> Response:
    """The call-taker took the offer: `<Dial><Queue>` connects them to the caller at the front."""
    webhooks.params()
    taker_id = _taker_id()
    queue = _queue() if "task" not in request.args else ""
    session = db.session()
    found = service.taker_accepted(session, taker_id, utcnow())
    session.commit()
    response = VoiceResponse()
    if found is None:
        response.hangup()
        return webhooks.twiml(response)
    if "task" in request.args:
        return webhooks.twiml(_call_back(response, taker_id, _task_id()))
    dial = response.dial(timeout=webhooks.settings().desk_ring_s)
    dial.queue(
        queue,
        url=webhooks.settings().public_url(f"/voice/desk/connecting?taker={taker_id}"),
        method="POST",
    )
    return webhooks.twiml(response)


@bp.post("/connecting")
def connecting() -> Response:
    """Run on the caller just before they are connected (<Queue url>): they hear it."""
    params = webhooks.params()
    caller = params.get("CallSid", "")[:34]
    session = db.session()
    service.taker_connected(session, _taker_id(), caller)
    found = service.entry(session, caller)
    session.commit()
    response = VoiceResponse()
    say(response, found.language if found else voice.languages().default, "connecting")
    return webhooks.twiml(response)


@bp.post("/taker-status")
def taker_status() -> Response:
    """The call-taker's leg ended: wrap-up, available again, or a break if they never took it."""
    params = webhooks.params()
    status = params.get("CallStatus", "")
    session = db.session()
    service.taker_leg_ended(session, _taker_id(), status, webhooks.settings(), utcnow())
    session.commit()
    return Response(status=204)


@bp.post("/call-back-done")
def call_back_done() -> Response:
    """The call-back's <Dial> ended: its outcome is recorded on the task."""
    params = webhooks.params()
    session = db.session()
    service.callback_dialled(
        session, _task_id(), _taker_id(), params.get("DialCallStatus", ""), utcnow()
    )
    session.commit()
    response = VoiceResponse()
    response.hangup()
    return webhooks.twiml(response)


@bp.post("/transfer")
def transfer() -> Response:
    """A call-taker moved this caller to an emergency route (the desk page's transfer): the
    officers on duty for `route` ring, screened, as for a caller who pressed 1."""
    report = accept_call_webhook()
    route = request.args.get("route", "")
    if route not in categories.CATEGORIES.emergency:
        abort(400, description="route: an emergency category")
    found = service.entry(db.session(), report.call_sid)
    language = found.language if found else voice.languages().default
    response = start_bridge(VoiceResponse(), report.call_sid, route, language)
    db.session().commit()
    return webhooks.twiml(response)


@audio.get("/hold.wav")
def hold() -> Response:
    """The hold audio (a soft chime and silence, made for this project; see desk/SOURCE.md)."""
    return send_file(HOLD_AUDIO, mimetype="audio/wav", max_age=dt.timedelta(days=1).seconds)


def _call_back(response: VoiceResponse, taker_id: int, task_id: int) -> VoiceResponse:
    """The call-taker took a call-back: Twilio dials the caller, showing the hotline's number;
    how it ends is recorded on the task."""
    found = service.callback_number(db.session(), task_id)
    language = voice.languages().default
    if found is None:
        say(response, language, "callback_gone")
        response.hangup()
        return response
    number, _caller_language = found
    say(response, language, "calling_back")
    settings = webhooks.settings()
    dial = response.dial(
        caller_id=settings.hotline_number,
        timeout=30,
        action=settings.public_url(f"/voice/desk/call-back-done?task={task_id}&taker={taker_id}"),
        method="POST",
    )
    dial.number(number)
    return response


def _task_id() -> int:
    try:
        return whole_number(request.args.get("task", ""), "task", 1, 2**63 - 1)
    except BadInput as exc:
        abort(400, description=str(exc))


def _taker_id() -> int:
    try:
        return whole_number(request.args.get("taker", ""), "taker", 1, 2**31 - 1)
    except BadInput as exc:
        abort(400, description=str(exc))


def _queue() -> str:
    queue = request.args.get("queue", "")
    if queue not in service.QUEUES:
        abort(400, description=f"queue: one of {', '.join(service.QUEUES)}")
    return queue
