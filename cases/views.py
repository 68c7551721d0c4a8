"""The service branch's webhook: the caller's recorded request becomes a case.

One call makes at most one case (`create_case` is idempotent on the CallSid), however often
Twilio delivers the webhook. With the database down, the request is spooled and becomes a case
when it comes back; the caller is told how the number will reach them (a text, key 8).

An empty recording never reaches the action: the caller hears so, gets one more try
(`/cases/details?try=1`), and after a second empty one is put through to the service desk.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from calls.webhook import accept_call_webhook
from cases import capture, supervision
from cases.models import Case
from cases.service import CaseError, apply, create_case, stored_holidays
from cases.units import Units, unit_for, units_for_app
from cases.workflow import CaseState
from core import db, sms, webhooks
from core.db import utcnow
from core.phone import caller_e164
from ivr import service as ivr_service
from ivr import twiml as ivr_twiml
from ivr.classifier import Kind
from providers.service import refusal
from routing import durable
from routing import views as routing

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("cases", __name__, url_prefix="/voice"))
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
INTAKE = "case_intake"


def init_app(app: Flask) -> None:
    units_for_app(app)  # load and validate at start-up: a bad file stops the service
    app.register_blueprint(bp)
    durable.HANDLERS[INTAKE] = _intake_from_spool
    supervision.init_app(app)
    from cases.progress import bp as progress_bp
    from cases.unitline import bp as unitline_bp

    app.register_blueprint(unitline_bp)
    app.register_blueprint(progress_bp)


def _language() -> str:
    return "en" if request.args.get("lang") == "en" else "zh"


def _recording_sid() -> str | None:
    sid = webhooks.params().get("RecordingSid", "")
    return sid if RECORDING_SID.match(sid) else None


def _recorded_without_db() -> Response:
    report = durable.accept_call_durably()
    language, settings = _language(), webhooks.settings()
    if request.args.get("nothing"):
        # Two empty recordings: nothing to spool; a person takes it (the desk works without
        # the database).
        return webhooks.twiml(to_the_desk(report.call_sid, language))
    durable.spool().write(
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
    caller = caller_e164(report.from_raw, settings.default_region)
    response = VoiceResponse()
    capture.say_later(
        response, language, sms=sms.can_send(settings, caller), known_caller=caller is not None
    )
    return webhooks.twiml(response)


def to_the_desk(call_sid: str, language: str) -> VoiceResponse:
    """Hand the caller to a person at the service desk, saying so (the IVR's desk prompt)."""
    response = VoiceResponse()
    tree = current_app.extensions["hotline.ivr"].tree
    prompts = tree.branch_prompts["desk"]
    ivr_twiml.say(response, tree, prompts.get(language) or prompts[tree.default_language])
    return routing.start(response, call_sid, "desk", language)


def _details_without_db() -> Response:
    durable.accept_call_durably()
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
    report = accept_call_webhook()
    language, settings, session = _language(), webhooks.settings(), db.session()
    ivr = ivr_service.get(session, report.call_sid)
    transcript = " / ".join(u["text"] for u in ivr.utterances) if ivr else ""
    nothing = bool(request.args.get("nothing"))
    recording_sid = None if nothing else _recording_sid()
    if nothing or (recording_sid is None and not transcript):
        # Twice nothing recorded (or nothing recorded and nothing said): a person takes it.
        session.commit()
        return webhooks.twiml(to_the_desk(report.call_sid, language))
    category = "other"
    if ivr is not None and ivr.kind is Kind.SERVICE and ivr.category:
        category = ivr.category
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
        holidays=_holidays(session),
    )
    if case.recording_sid is None and recording_sid is not None:
        case.recording_sid = recording_sid  # the recording arrived on a later delivery
    texted = after_intake(session, case, language)
    session.commit()
    log.info("call %s: case %s (%s)", report.call_sid, case.number, category)
    return webhooks.twiml(capture.case_taken(case.number, language, sms=texted))


def _holidays(session: Any) -> Mapping[dt.date, str]:
    """The roster's holidays as this process has them cached (re-checked every 30 s, as the
    routing is); read from the database only when no roster is cached."""
    roster = routing.roster_cache().get()
    return roster.holidays if roster is not None else stored_holidays(session)


def units() -> Units:
    return units_for_app(current_app)


def after_intake(session: Any, case: Case, language: str) -> bool:
    """Dispatch a new case to the unit for its category, and text the caller the number."""
    case = apply_dispatch_if_new(session, case)
    if case.state is CaseState.DISPATCHED:
        supervision.notify_dispatched(session, units(), case, webhooks.settings().tz)
    if case.caller_number is None:
        return False
    return sms.schedule_sms(
        session,
        key=f"case-received:{case.number}",
        to=case.caller_number,
        body=capture.sms_text(case.number, language),
        case_number=case.number,
    )


def apply_dispatch_if_new(session: Any, case: Case) -> Case:
    """转办: a new case goes to the unit its category maps to (a dispatcher can change it).

    `case` is as this transaction just read or created it; `apply` locks and re-reads it.
    """
    if case.state is not CaseState.RECEIVED or case.confidential:
        return case
    number = case.number
    unit = unit_for(units(), case.category)
    refused = refusal(session, unit.code, utcnow(), webhooks.settings().tz)
    if refused is not None:
        # A suspended or expired provider gets nothing more: the center takes it instead.
        log.warning("case %s: %s; dispatched to %s", number, refused, units().default.code)
        unit = units().default
    try:
        return apply(
            session,
            number,
            "dispatch",
            actor="system",
            note=f"by category {case.category}",
            unit_code=unit.code,
            units=units(),
        )
    except CaseError:
        log.exception("case %s: automatic dispatch failed; left for a dispatcher", number)
        return case


def _intake_from_spool(session: Any, record: dict[str, Any]) -> None:
    """Replay a request taken while the database was down: the case, then its SMS."""
    settings = current_app.extensions["hotline.settings"]
    ivr = ivr_service.get(session, record["call_sid"])
    transcript = " / ".join(u["text"] for u in ivr.utterances) if ivr else ""
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
        holidays=_holidays(session),
    )
    after_intake(session, case, record["language"])
