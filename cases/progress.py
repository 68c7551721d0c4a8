"""Progress look-up by phone: a caller hears the state of their open case, or of any case
whose number they key in. Only the state and the deadline are told, never the contents."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from cases.capture import spoken_number
from cases.models import Case
from cases.workflow import OPEN_STATES, OPEN_STATES_ORDERED, CaseState
from config.settings import Settings
from core import db, webhooks
from core.voice import Line, say

_STATE = {
    CaseState.RECEIVED: ("已受理，正在派单", "received and being assigned"),
    CaseState.HANDLED_ON_SPOT: ("已当场办理", "handled on the spot"),
    CaseState.DISPATCHED: ("已派至责任单位", "assigned to the responsible unit"),
    CaseState.ACCEPTED: ("责任单位已接单", "accepted by the responsible unit"),
    CaseState.IN_PROGRESS: ("正在办理", "in progress"),
    CaseState.RESOLVED: ("已办结，等待回访", "resolved, awaiting our callback"),
    CaseState.CLOSED: ("已办结", "closed"),
    CaseState.REOPENED: ("已重新办理", "reopened and being handled again"),
}


GOODBYE = {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."}
_ANOTHER = {
    "zh": "查询其他工单，请输入十二位工单号，以井号键结束。",
    "en": "To hear another case, key in its twelve digits and press pound.",
}


def _open_case_by(parameter: str) -> Select[Case]:
    return (
        select(Case)
        .where(Case.caller_number == bindparam(parameter), Case.state.in_(OPEN_STATES_ORDERED))
        .order_by(Case.created_at.desc())
        .limit(1)
    )


_OPEN_CASE_OF = _open_case_by("caller")
#: The calling number's newest open case, asked on every incoming call in the webhook's own
#: round trip (calls.webhook.accept_call_webhook_reading: the call's `from_number`).
OPEN_CASE_OF_CALLER = _open_case_by("from_number")


#: Key 8 for a caller without an open case: their newest case of any state.
_NEWEST_CASE_OF = (
    select(Case)
    .where(Case.caller_number == bindparam("caller"))
    .order_by(Case.created_at.desc())
    .limit(1)
)


def open_case_of(session: Session, caller: str | None) -> Case | None:
    """The caller's newest open case, if any."""
    if not caller:
        return None
    return session.scalars(_OPEN_CASE_OF, {"caller": caller}).first()


def case_of(session: Session, caller: str | None) -> Case | None:
    """The case key 8 tells a caller about: their newest open one, else their newest one.

    A caller told at intake to press 8 hears their case even once it is resolved or closed.
    """
    if not caller:
        return None
    return (
        open_case_of(session, caller)
        or session.scalars(_NEWEST_CASE_OF, {"caller": caller}).first()
    )


def notice(case: Case, language: str) -> Line:
    """The front door's first line for a caller with an open case."""
    if language == "en":
        return Line(
            text="You have a case in progress; to hear its status, press 8.", language=language
        )
    return Line(text="您有一件工单正在办理中，查询进度请按8。", language=language)


def status_of(response: VoiceResponse, case: Case, language: str, settings: Settings) -> None:
    """Say `case`'s number, state and deadline to the caller, in `language`."""
    zh_state, en_state = _STATE[case.state]
    number = spoken_number(case.number, language)
    if case.state not in OPEN_STATES:
        # Resolved or closed: a deadline would only confuse.
        texts = {"zh": f"工单{number}，{zh_state}。", "en": f"Case {number} is {en_state}."}
    else:
        due = case.due_at.astimezone(settings.tz)
        texts = {
            "zh": f"工单{number}，{zh_state}，办理时限{due.month}月{due.day}日。",
            "en": f"Case {number} is {en_state}; due on {due:%B %d}.",
        }
    say(response, language, texts)


def start(response: VoiceResponse, caller: str | None, language: str) -> VoiceResponse:
    """From the front door (key 8): the caller's own case, then any number keyed in."""
    settings, session = webhooks.settings(), db.session()
    mine = case_of(session, caller)
    if mine is not None:
        status_of(response, mine, language, settings)
    gather = response.gather(
        input="dtmf",
        action=settings.public_url(f"/voice/cases/status?lang={language}"),
        method="POST",
        timeout=8,
        finish_on_key="#",
    )
    say(gather, language, _ANOTHER)
    say(response, language, GOODBYE)
    response.hangup()
    return response
