"""Webhooks of a bridge: the Dial action, the officer's screening whisper, the caller's message.

None of them needs the database to answer: the plan comes from the roster cache and the URL,
and every write goes through `durable.persist` (the database, or the spool when it is down).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from calls.durable import accept_call_durably, call_report, webhook_record
from calls.models import CallStatus
from core import categories, db, durable, webhooks
from core.db import UNREACHABLE
from core.inputs import BadInput, digits_or_none, whole_number
from routing import bridge, callbacks, service
from routing.bridge import Bridge
from routing.models import BridgeAttempt

bp = webhooks.protect(Blueprint("routing", __name__, url_prefix="/voice"))

#: A bridge's webhooks arrive within minutes of its start; older (or future) ones are forged.
MAX_BRIDGE_AGE_S = 6 * 3600


@bp.post("/route/dialed")
def dialed() -> Response:
    """A <Dial> step ended: done if a person took the call, else the next step.

    If the caller hung up while the phones rang (their leg is over, nobody accepted), nothing
    more is dialled: the attempt is closed `abandoned`, an alert and a call-back task are
    raised, and a plain <Hangup/> answers (Twilio ignores it: nobody is left on the line).
    """
    b, index = _bridge_from_query(), _int_arg("step", 100)
    report, params = call_report(), webhooks.params()
    steps = service.steps_for(b)
    status = params.get("DialCallStatus", "").strip().lower()
    screened = index >= len(steps) or bridge.is_screened(webhooks.settings(), b, steps[index])
    connected = bridge.was_connected(
        status,
        params.get("DialBridged"),
        lambda: _accepted(report.call_sid, index),
        screened=screened,
    )
    abandoned = caller_hung_up(report.status, connected=connected)
    records: list[tuple[str, dict[str, Any]]] = [("call", webhook_record(call=True))]
    at = db.utcnow().isoformat()
    records += [
        (
            "dial_result",
            {
                "call_sid": report.call_sid,
                "step": index,
                "outcome": dial_outcome(status, connected=connected, abandoned=abandoned),
                "dial_call_sid": params.get("DialCallSid", "")[:34] or None,
                "duration_s": _seconds(params.get("DialCallDuration")),
                "at": at,
            },
        ),
    ]
    if abandoned:
        records += callbacks.abandoned_bridge_records(
            call_sid=report.call_sid,
            route=b.route,
            language=b.language,
            caller=service.caller(),
            at=at,
            detail=f"while dial step {index + 1} of {len(steps)} rang",
        )
    elif not connected:
        if index + 1 < len(steps):
            records.append(service.dial_record(report.call_sid, b, steps, index + 1))
        else:
            records += callbacks.unanswered_bridge_records(
                call_sid=report.call_sid,
                route=b.route,
                language=b.language,
                caller=service.caller(),
                at=at,
                steps=len(steps),
            )
    durable.persist(*records)  # one transaction (or the spool)
    if abandoned:
        return webhooks.twiml(hang_up())
    if index >= len(steps) and not connected:  # the roster changed under a running bridge
        return webhooks.twiml(bridge.leave_message(webhooks.settings(), b, caller=service.caller()))
    return webhooks.twiml(
        bridge.after_dial(
            webhooks.settings(), b, steps, index, connected=connected, caller=service.caller()
        )
    )


def caller_hung_up(call_status: CallStatus, *, connected: bool) -> bool:
    """Did the caller abandon the bridge: their own leg over, and no officer took the call?

    Only a final status counts (completed, busy, failed, no-answer, canceled): a status we
    do not expect here (queued, say) keeps the caller on the line and the next tier ringing,
    since hanging up on a caller who is still there is the worse mistake.
    """
    return call_status.is_final and not connected


def dial_outcome(dial_status: str, *, connected: bool, abandoned: bool) -> str:
    """What a bridge attempt is closed with: connected, abandoned, or Twilio's DialCallStatus."""
    if connected:
        return "connected"
    if abandoned:
        return callbacks.ABANDONED
    return (dial_status or "failed")[:16]


def hang_up() -> VoiceResponse:
    """`<Response><Hangup/></Response>`: the answer when nobody is left on the line."""
    response = VoiceResponse()
    response.hangup()
    return response


@bp.post("/route/screen")
def screen() -> Response:
    """The officer answered: tell them what the call is and ask for a key."""
    b, index = _bridge_from_query(), _int_arg("step", 100)
    officer = request.args.get("officer", "")[:64]
    accept_call_durably()
    what = categories.name(b.route, "zh")
    return webhooks.twiml(bridge.screen(webhooks.settings(), b, index, officer, what))


@bp.post("/route/accept")
def accept() -> Response:
    """The officer pressed a key (bridge now) or didn't (hang up: a voicemail box can't)."""
    _bridge_from_query()
    index = _int_arg("step", 100)
    params = webhooks.params()
    pressed = bool(params.get("Digits", "").strip())
    parent = params.get("ParentCallSid", "")[:34]
    also = []
    if pressed and parent:
        also.append(
            (
                "accept",
                {
                    "call_sid": parent,
                    "step": index,
                    "phone": params.get("To", "")[:255],
                    "officer": request.args.get("officer", "")[:64] or None,
                    "at": db.utcnow().isoformat(),
                },
            )
        )
    accept_call_durably(*also)  # the leg's webhook and the key press: one transaction
    return webhooks.twiml(bridge.accepted(pressed))


@bp.post("/route/message")
def message() -> Response:
    """The caller left a message after every number failed: the highest-priority alert."""
    b = _bridge_from_query()
    report = accept_call_durably()
    params = webhooks.params()
    recording = params.get("RecordingUrl", "")[:500] or None
    durable.persist(
        (
            "alert",
            {
                "call_sid": report.call_sid,
                "priority": 0,
                "kind": "caller_message",
                "message": f"{b.route}: caller left a message after nobody answered",
                "recording_url": recording,
                "at": db.utcnow().isoformat(),
            },
        )
    )
    return webhooks.twiml(bridge.message_taken(b, caller=service.caller()))


def _accepted(call_sid: str, step: int) -> bool:
    """Did an officer press a key on this step (when Twilio doesn't say DialBridged)?"""
    database = db.database()
    if not database.available():
        return False
    try:
        return (
            db.session().scalar(
                select(BridgeAttempt.accepted_at).where(
                    BridgeAttempt.call_sid == call_sid, BridgeAttempt.step == step
                )
            )
            is not None
        )
    except UNREACHABLE as exc:
        database.mark_down(exc)
        return False


def _bridge_from_query() -> Bridge:
    route = request.args.get("route", "")
    if route not in service.BRIDGE_ROUTES:
        abort(400, description=f"route: must be one of {', '.join(service.BRIDGE_ROUTES)}")
    at = _int_arg("at", 2**40)
    if abs(time.time() - at) > MAX_BRIDGE_AGE_S:
        abort(400, description="at: not a recent bridge")
    language = request.args.get("lang", "zh")
    version = request.args.get("v", "0")
    return Bridge(
        route=route,
        at=at,
        language="en" if language == "en" else "zh",
        version=digits_or_none(version, 9) or 0,
    )


def _int_arg(name: str, maximum: int) -> int:
    """The query parameter `name` as a whole number from 0 to `maximum` (ASCII digits, read by
    core.inputs.whole_number); missing or anything else is a 400."""
    try:
        return whole_number(request.args.get(name, ""), name, 0, maximum)
    except BadInput:
        abort(400, description=f"{name}: must be a whole number from 0 to {maximum}")


def _seconds(raw: str | None) -> int | None:
    """A duration Twilio reports (up to 6 ASCII digits, spaces around ignored), else None."""
    return digits_or_none((raw or "").strip(), 6)
