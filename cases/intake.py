"""After a service request became a case: dispatch it to its unit (转办) and text the caller.

Used by the recording's webhook, the spool's replay of an intake, and Open311's requests alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app
from twilio.twiml.voice_response import VoiceResponse

from cases import capture, supervision
from cases.models import Case
from cases.service import CaseError, apply
from cases.units import Units, unit_for, units_for_app
from cases.workflow import CaseState
from core import handover, sms, voice, webhooks
from core.calendar import stored_holidays
from core.db import utcnow
from providers.service import refusal
from routing import service as routing

log = logging.getLogger(__name__)


def holidays(session: Any) -> Mapping[dt.date, str]:
    """The roster's holidays as this process has them cached (re-checked every 30 s, as the
    routing is); read from the database only when no roster is cached."""
    roster = routing.roster_cache().get()
    return roster.holidays if roster is not None else stored_holidays(session)


def units() -> Units:
    """The units cases are dispatched to (config/units.yaml, loaded with the app)."""
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

    `case` is as this transaction just read or created it; `apply` locks and re-reads it,
    unless this transaction created it.
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
            unit_code=unit.code,
            units=units(),
            # Why this unit: its category's, or the center's when that unit's provider is
            # refused (the timeline says so in the reader's language).
            data={"rule": "category" if refused is None else "provider_refused"},
            case=case,
        )
    except CaseError:
        log.exception("case %s: automatic dispatch failed; left for a dispatcher", number)
        return case


def to_the_desk(call_sid: str, language: str) -> VoiceResponse:
    """Hand the caller to a person at the service desk, saying so (the IVR's desk prompt)."""
    response = VoiceResponse()
    voice.say_lines(response, voice.languages(), handover.desk_prompt(language))
    return routing.start_bridge(response, call_sid, "desk", language)
