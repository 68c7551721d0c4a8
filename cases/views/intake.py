"""The service branch's webhook: the caller's recorded request becomes a case.

One call makes at most one case (`create_case` is idempotent on the CallSid), however often
Twilio delivers the webhook. With the database down, the request is spooled and becomes a case
when it comes back; the caller is told how the number will reach them (a text, key 8).

An empty recording never reaches the action: the caller hears so, gets one more try
(`/cases/details?try=1`), and after a second empty one is put through to the service desk.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from calls.durable import accept_call_durably
from calls.webhook import accept_call_webhook, accept_call_webhook_reading
from cases import capture, intake
from cases.service import create_case
from core import db, durable, handover, sms, webhooks
from core.db import utcnow
from core.phone import caller_e164

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("cases", __name__, url_prefix="/voice"))
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
INTAKE = "case_intake"


def _language() -> str:
    return "en" if request.args.get("lang") == "en" else "zh"


def _recording_sid() -> str | None:
    sid = webhooks.params().get("RecordingSid", "")
    return sid if RECORDING_SID.match(sid) else None


def _recorded_without_db() -> Response:
    report = accept_call_durably()
    language, settings = _language(), webhooks.settings()
    if request.args.get("nothing"):
        # Two empty recordings: nothing to spool; a person takes it (the desk works without
        # the database).
        return webhooks.twiml(intake.to_the_desk(report.call_sid, language))
    durable.write(
        (
            INTAKE,
            {
                "call_sid": report.call_sid,
                "caller_raw": report.from_raw,
                "language": language,
                "recording_sid": _recording_sid(),
                "at": utcnow().isoformat(),
                "region": settings.default_region,
            },
        )
    )
    caller = caller_e164(report.from_raw, settings.default_region)
    response = VoiceResponse()
    capture.say_later(
        response, language, sms=sms.can_send(settings, caller), known_caller=caller is not None
    )
    return webhooks.twiml(response)


def _details_without_db() -> Response:
    accept_call_durably()
    return webhooks.twiml(_details_again())


@bp.post("/cases/details")
@durable.unless_db_down(_details_without_db)
def details() -> Response:
    """The second chance after an empty recording: ask for the details again."""
    accept_call_webhook()
    db.session().commit()
    return webhooks.twiml(_details_again())


def _details_again() -> VoiceResponse:
    raw = request.args.get("try", "")
    attempt = int(raw) if raw in ("0", "1") else capture.MAX_EMPTY_RECORDINGS - 1
    return capture.ask_for_details(VoiceResponse(), webhooks.settings(), _language(), attempt)


@bp.post("/cases/recorded")
@durable.unless_db_down(_recorded_without_db)
def recorded() -> Response:
    """The caller finished (or hung up during) the recording: open the case, read its number."""
    report, found = accept_call_webhook_reading(handover.heard_query())
    language, settings, session = _language(), webhooks.settings(), db.session()
    heard = handover.heard_of(found.scalars().one_or_none())
    transcript = heard.transcript
    nothing = bool(request.args.get("nothing"))
    recording_sid = None if nothing else _recording_sid()
    if nothing or (recording_sid is None and not transcript):
        # Twice nothing recorded (or nothing recorded and nothing said): a person takes it.
        session.commit()
        return webhooks.twiml(intake.to_the_desk(report.call_sid, language))
    category = heard.category or "other"
    case = create_case(
        session,
        call_sid=report.call_sid,
        category=category,
        language=language,
        # The caller's number as the call row stores it (no need to read the row back).
        caller_number=caller_e164(report.from_raw, settings.default_region),
        caller_raw=report.from_raw,
        transcript=transcript,
        recording_sid=recording_sid,
        tz=settings.tz,
        holidays=intake.holidays(session),
    )
    if case.recording_sid is None and recording_sid is not None:
        case.recording_sid = recording_sid  # the recording arrived on a later delivery
    texted = intake.after_intake(session, case, language)
    session.commit()
    log.info("call %s: case %s (%s)", report.call_sid, case.number, category)
    return webhooks.twiml(capture.case_taken(case.number, language, sms=texted))


@durable.handler(INTAKE)
def _intake_from_spool(session: Any, record: dict[str, Any]) -> None:
    """Replay a request taken while the database was down: the case, then its SMS."""
    settings = current_app.extensions["hotline.settings"]
    transcript = handover.heard(session, record["call_sid"]).transcript
    case = create_case(
        session,
        call_sid=record["call_sid"],
        category="other",
        language=record["language"],
        caller_number=caller_e164(record["caller_raw"], record["region"]),
        caller_raw=record["caller_raw"],
        transcript=transcript,
        recording_sid=record.get("recording_sid"),
        tz=settings.tz,
        holidays=intake.holidays(session),
    )
    intake.after_intake(session, case, record["language"])
