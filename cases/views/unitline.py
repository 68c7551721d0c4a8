"""The units' report-back line: a duty contact calls, keys in the case number and the unit's
PIN, and accepts the case or records the result — no web login needed.

Point a second Twilio number's voice webhook at /voice/units/incoming. Every step's URL carries
the case and the CallSid it was issued for; Twilio signs those URLs, so a later step can't be
reached without passing the PIN on the same call.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from calls.service import get_call
from calls.webhook import accept_call_webhook
from cases import capture
from cases.capture import case_number
from cases.intake import to_the_desk
from cases.models import CaseEvent, UnitPinFailure
from cases.queries import CaseNotFound, get_case
from cases.service import CaseError, apply
from cases.units import units_for_app
from cases.workflow import CaseState
from core import db, webhooks
from core.alerts import raise_alert
from core.db import utcnow
from core.voice import ZH

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("unitline", __name__, url_prefix="/voice/units"))

MAX_TRIES = 3
#: Wrong PINs for one unit from one calling number that stop that number for the window.
LOCK_AFTER = 10
LOCK_WINDOW = dt.timedelta(hours=24)
_CASE = re.compile(r"^MS-\d{8}-\d{4,6}$")


def _ask(response: VoiceResponse, text: str, action: str, *, digits: int | None = None) -> None:
    gather = response.gather(
        input="dtmf",
        action=webhooks.settings().public_url(action),
        method="POST",
        timeout=10,
        finish_on_key="#",
        num_digits=digits,
        action_on_empty_result=True,
    )
    gather.say(text, **ZH)


def _bye(response: VoiceResponse, text: str) -> Response:
    response.say(text, **ZH)
    response.hangup()
    return webhooks.twiml(response)


def _tries() -> int:
    raw = request.args.get("try", "0")
    return int(raw) if raw.isdigit() and len(raw) < 3 else MAX_TRIES


def _authorised_case() -> str:
    """The case of a step that follows a correct PIN on this same call (else 403)."""
    number = request.args.get("case", "")
    if not _CASE.match(number) or request.args.get("call") != webhooks.params().get("CallSid"):
        abort(403, description="this step belongs to another call")
    return number


def _call_has_ended(session: Session, call_sid: str) -> bool:
    """Whether Twilio already reported the call's end: a step of an ended call is a replay (a
    captured, signed request sent again) and changes nothing. Statuses only move forward, so
    the replay's own "in-progress" cannot revive the call."""
    call = get_call(session, call_sid)
    return call is not None and call.status.is_final


def _recording_used(session: Session, case_id: int, recording_sid: str) -> bool:
    """Whether the recording was already taken as this case's feedback (a one-shot step)."""
    used = session.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.note.contains(recording_sid))
    )
    return bool(used)


@bp.post("/incoming")
def incoming() -> Response:
    accept_call_webhook()
    db.session().commit()
    response = VoiceResponse()
    _ask(
        response,
        "民生110单位反馈专线。请输入十二位工单号数字，以井号键结束。",
        "/voice/units/case?try=0",
    )
    return webhooks.twiml(response)


@bp.post("/case")
def case() -> Response:
    """The case number: known → ask for the PIN; unknown → again, three times at most."""
    accept_call_webhook()
    tries, session = _tries() + 1, db.session()
    number = case_number(webhooks.params().get("Digits", ""))
    found = None
    if number is not None:
        try:
            found = get_case(session, number)
        except CaseNotFound:
            found = None
    session.commit()
    response = VoiceResponse()
    if found is None or found.unit_code is None:
        if tries >= MAX_TRIES:
            return _bye(response, "未找到该工单。请核对短信中的工单号后再拨。再见。")
        _ask(
            response,
            "未找到该工单，请重新输入十二位工单号，以井号键结束。",
            f"/voice/units/case?try={tries}",
        )
        return webhooks.twiml(response)
    _ask(
        response,
        "请输入贵单位的反馈密码，以井号键结束。",
        f"/voice/units/pin?case={found.number}&try=0",
    )
    return webhooks.twiml(response)


@bp.post("/pin")
def pin() -> Response:
    """The unit's PIN for the unit the case is with; three wrong ones end the call and alert."""
    report = accept_call_webhook(redact=("Digits",))  # never log a PIN
    number, tries, session = request.args.get("case", ""), _tries() + 1, db.session()
    try:
        found = get_case(session, number)
    except CaseNotFound:
        abort(400, description=f"case: unknown case {number[:32]!r}")
    unit = units_for_app(current_app).get(found.unit_code or "")
    since = utcnow() - LOCK_WINDOW
    # Counted per calling number: someone guessing from their phone is stopped, and can never
    # lock the unit's own phones out of its line.
    failures = session.scalar(
        select(func.count())
        .select_from(UnitPinFailure)
        .where(
            UnitPinFailure.unit_code == (found.unit_code or ""),
            UnitPinFailure.caller == report.from_raw[:64],
            UnitPinFailure.at >= since,
        )
    )
    if (failures or 0) >= LOCK_AFTER:
        session.commit()
        log.warning("unit line: %d wrong PINs for %s from one number", failures, found.unit_code)
        return _bye(VoiceResponse(), "您的号码因多次密码错误已暂时不能反馈，请联系服务中心。")
    if unit is None or not unit.check_pin(webhooks.params().get("Digits", "").strip().rstrip("#")):
        session.add(
            UnitPinFailure(
                unit_code=found.unit_code or "", caller=report.from_raw[:64], at=utcnow()
            )
        )
        response = VoiceResponse()
        if tries >= MAX_TRIES:
            raise_alert(
                session,
                {
                    "call_sid": report.call_sid,
                    "priority": 2,
                    "kind": "unit-pin",
                    "message": f"three wrong PINs for case {number} (unit {found.unit_code}) "
                    f"from {report.from_raw[:32]}",
                    "at": utcnow(),
                },
            )
            session.commit()
            log.warning("unit line: three wrong PINs for %s (%s)", number, found.unit_code)
            return _bye(response, "密码错误次数过多，本次通话结束。")
        session.commit()
        _ask(response, "密码错误，请重新输入。", f"/voice/units/pin?case={number}&try={tries}")
        return webhooks.twiml(response)
    session.commit()
    return webhooks.twiml(_menu(number, found.state, report.call_sid))


def _menu(number: str, state: CaseState, call_sid: str) -> VoiceResponse:
    response = VoiceResponse()
    status = {
        CaseState.DISPATCHED: "待接单",
        CaseState.ACCEPTED: "已接单",
        CaseState.IN_PROGRESS: "办理中",
    }.get(state, "不可反馈")
    if status == "不可反馈":
        response.say("该工单当前状态不需要单位反馈。再见。", **ZH)
        response.hangup()
        return response
    _ask(
        response,
        f"工单状态：{status}。接单请按1；已办结、录音说明办理结果请按2。",
        f"/voice/units/act?case={number}&call={call_sid}",
        digits=1,
    )
    return response


@bp.post("/act")
def act() -> Response:
    """1: accept the case; 2: record the result."""
    number = _authorised_case()
    report = accept_call_webhook()
    digit, session = webhooks.params().get("Digits", "")[:1], db.session()
    response = VoiceResponse()
    if _call_has_ended(session, report.call_sid):
        session.commit()
        log.warning(
            "unit line: a step of ended call %s for %s changes nothing", report.call_sid, number
        )
        return _bye(response, "本次通话已结束。再见。")
    if digit == "1":
        try:
            apply(session, number, "accept", actor=f"phone:{report.from_raw[:20]}")
        except CaseError as exc:
            session.rollback()
            return _bye(response, f"无法接单：{exc}")
        session.commit()
        return _bye(response, "已接单，请按时办理并反馈。再见。")
    if digit == "2":
        session.commit()
        return webhooks.twiml(_ask_for_result(number, report.call_sid, 0))
    session.commit()
    return _bye(response, "未收到有效选择。再见。")


def _ask_for_result(number: str, call_sid: str, attempt: int) -> VoiceResponse:
    """Record the result. An empty recording skips the action and runs the verbs after it: we
    say so, ask once more, then put the contact through to the service desk."""
    settings, response = webhooks.settings(), VoiceResponse()
    response.say("请在提示音后说明办理结果，说完请按井号键。", **ZH)
    response.record(
        action=settings.public_url(f"/voice/units/result?case={number}&call={call_sid}"),
        method="POST",
        max_length=180,
        timeout=capture.SILENCE_TIMEOUT_S,
        finish_on_key="#",
        play_beep=True,
        trim="trim-silence",
        recording_status_callback=settings.public_url("/voice/recording-status"),
    )
    response.say("我们没有听到您的声音。", **ZH)  # reached only when nothing was recorded
    if attempt < capture.MAX_EMPTY_RECORDINGS - 1:
        again = f"/voice/units/report?case={number}&call={call_sid}&try={attempt + 1}"
        response.redirect(settings.public_url(again), method="POST")
    else:
        response.redirect(
            settings.public_url(f"/voice/units/desk?case={number}&call={call_sid}"),
            method="POST",
        )
    return response


@bp.post("/report")
def report_again() -> Response:
    """The second chance after an empty recording of the result."""
    number = _authorised_case()
    report = accept_call_webhook()
    db.session().commit()
    raw = request.args.get("try", "")
    attempt = int(raw) if raw in ("0", "1") else capture.MAX_EMPTY_RECORDINGS - 1
    return webhooks.twiml(_ask_for_result(number, report.call_sid, attempt))


@bp.post("/desk")
def desk() -> Response:
    """Twice nothing recorded: a person at the service desk takes the unit's result."""
    number = _authorised_case()
    report = accept_call_webhook()
    db.session().commit()
    log.info("unit line: no result recorded for %s; %s goes to the desk", number, report.call_sid)
    return webhooks.twiml(to_the_desk(report.call_sid, "zh"))


@bp.post("/result")
def result() -> Response:
    """The recorded result: the case is resolved with the recording as its feedback."""
    number = _authorised_case()
    report = accept_call_webhook()
    session, params = db.session(), webhooks.params()
    recording = params.get("RecordingSid", "")
    if not re.match(r"^RE[0-9a-f]{32}$", recording):
        session.commit()
        return _bye(VoiceResponse(), "没有录到反馈内容，请重新拨打。再见。")
    actor = f"phone:{report.from_raw[:20]}"
    case = get_case(session, number)
    # Not refused for an ended call: a unit that hangs up after recording still gets its
    # result in (Twilio requests the action when the caller hangs up during <Record>). A
    # recording is taken once: the same request again, even after the case was reopened,
    # changes nothing.
    if _recording_used(session, case.id, recording):
        session.commit()
        log.warning("unit line: replayed result %s for %s changes nothing", recording, number)
        return _bye(VoiceResponse(), "已记录办结反馈，我们会回访来电人。谢谢，再见。")
    try:
        if case.state is CaseState.DISPATCHED:
            apply(session, number, "accept", actor=actor)
        apply(session, number, "resolve", actor=actor, note=f"电话反馈（录音 {recording}）")
    except CaseError as exc:
        session.rollback()
        done = get_case(session, number)
        if done.state is CaseState.RESOLVED and recording in (done.feedback or ""):
            return _bye(VoiceResponse(), "已记录办结反馈，我们会回访来电人。谢谢，再见。")
        return _bye(VoiceResponse(), f"无法记录办结：{exc}")
    session.commit()
    return _bye(VoiceResponse(), "已记录办结反馈，我们会回访来电人。谢谢，再见。")
