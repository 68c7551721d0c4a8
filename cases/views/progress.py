"""`/voice/cases/status`: a caller keyed in a case number (key 8 at the front door) and hears its
state and deadline (what they hear is cases.progress')."""

from __future__ import annotations

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from calls.webhook import accept_call_webhook
from cases.capture import case_number
from cases.progress import GOODBYE, status_of
from cases.queries import CaseNotFound, get_case
from core import db, webhooks
from core.voice import say

bp = webhooks.protect(Blueprint("progress", __name__, url_prefix="/voice/cases"))


@bp.post("/status")
def status() -> Response:
    """A case number keyed in: its state and deadline."""
    accept_call_webhook()
    language = "en" if request.args.get("lang") == "en" else "zh"
    session, response = db.session(), VoiceResponse()
    number = case_number(webhooks.params().get("Digits", ""))
    try:
        case = get_case(session, number) if number else None
    except CaseNotFound:
        case = None
    session.commit()
    if case is None:
        say(
            response,
            language,
            {"zh": "未找到该工单，请核对工单号。", "en": "We could not find that case."},
        )
    else:
        status_of(response, case, language, webhooks.settings())
    say(response, language, GOODBYE)
    response.hangup()
    return webhooks.twiml(response)
