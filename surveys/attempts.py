"""What Twilio reports about a survey call's attempt, and what its end means for the survey.

A status only ever moves forward (callbacks can be reordered or repeated). When an attempt is
over, a person who answered completes the survey (`surveys.outcome.finish`); machines, no
answer, busy and failed calls are tried again, spread over the survey's window, then the survey
is unreachable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.calendar import stored_holidays
from core.inputs import BadInput, digits_or_none, whole_number
from core.webhooks import CALL_SID_RE, BadWebhook, our_account
from surveys.models import CaseSurvey, SurveyAnswer, SurveyAttempt, SurveyOutcome, SurveyState
from surveys.outcome import Context, finish
from surveys.schedule import next_calling_time

FINAL = ("completed", "busy", "no-answer", "failed", "canceled")
#: Every CallStatus Twilio documents (an outbound call's callback can say `initiated`).
CALL_STATUSES = ("queued", "initiated", "ringing", "in-progress", *FINAL)
#: Twilio's AnsweredBy values (answering machine detection).
ANSWERED_BY = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
#: A survey call is short; a longer CallDuration is not Twilio's.
MAX_DURATION_S = 86_400
_RANK = {"dialing": 0, "error": 0, "queued": 1, "initiated": 2, "ringing": 3, "in-progress": 4}
_RANK.update(dict.fromkeys(FINAL, 5))
#: Dial outcomes worth another attempt, and how the note names them.
_FAILED_HOW = {
    "machine": "an answering machine",
    "busy": "busy",
    "no-answer": "no answer",
    "failed": "the call failed",
    "canceled": "the call was cancelled",
    "completed": "hung up before answering",
    "error": "Twilio refused the call",
    "lost": "no news of the call",
}


def is_machine(answered_by: str | None) -> bool:
    """Twilio's AnsweredBy for a machine (machine_start, machine_end_beep, …) or a fax."""
    return bool(answered_by) and (answered_by or "").startswith(("machine", "fax"))


def our_call(params: Mapping[str, str], *, account_sid: str) -> str:
    """The webhook's CallSid, once it and the AccountSid (ours) are right (else BadWebhook)."""
    call_sid = params.get("CallSid", "").strip()
    if not CALL_SID_RE.match(call_sid):
        raise BadWebhook("CallSid: expected 'CA' followed by 32 lowercase hex digits")
    our_account(params, account_sid)
    return call_sid


@dataclasses.dataclass(frozen=True)
class CallbackReport:
    """A survey call's status or detection callback, validated (BadWebhook names what is wrong)."""

    call_sid: str
    status: str | None
    answered_by: str | None

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], *, account_sid: str, need: str
    ) -> CallbackReport:
        """CallSid, AccountSid (ours), `need` ("CallStatus" or "AnsweredBy") and any
        CallDuration (whole seconds, core.inputs) must be right."""
        call_sid = our_call(params, account_sid=account_sid)
        status = params.get("CallStatus", "").strip() or None
        answered_by = params.get("AnsweredBy", "").strip() or None
        for name, value, allowed in (
            ("CallStatus", status, CALL_STATUSES),
            ("AnsweredBy", answered_by, ANSWERED_BY),
        ):
            if value is None and name == need:
                raise BadWebhook(f"{name}: missing")
            if value is not None and value not in allowed:
                raise BadWebhook(f"{name}: {value[:40]!r} is not one of {', '.join(allowed)}")
        duration = params.get("CallDuration", "")
        try:
            if duration:
                whole_number(duration, "CallDuration", 0, MAX_DURATION_S)
        except BadInput as exc:
            raise BadWebhook(str(exc)) from None
        return cls(call_sid=call_sid, status=status, answered_by=answered_by)


def attempt_row(session: Session, survey_id: int, attempt: int) -> SurveyAttempt | None:
    return session.scalar(
        select(SurveyAttempt)
        .where(SurveyAttempt.survey_id == survey_id, SurveyAttempt.attempt == attempt)
        .execution_options(populate_existing=True)
    )


def forward(session: Session, survey_id: int, attempt: int, status: str) -> str:
    """`status`, unless the attempt already reported a later one (callbacks can be reordered)."""
    row = attempt_row(session, survey_id, attempt)
    if row is not None and _RANK.get(row.status, 0) >= _RANK.get(status, 0):
        return row.status
    return status


def report(
    session: Session, survey_id: int, attempt: int, params: Mapping[str, str], now: dt.datetime
) -> SurveyAttempt | None:
    """Record what a webhook says about an attempt (the status only ever moves forward)."""
    row = attempt_row(session, survey_id, attempt)
    if row is None:
        return None
    status = params.get("CallStatus", "")
    if status in _RANK and _RANK[status] > _RANK.get(row.status, 0):
        row.status = status
        if status in FINAL:
            row.ended_at = now
            row.duration_s = digits_or_none(params.get("CallDuration"), 6)
    if row.call_sid is None and params.get("CallSid"):
        row.call_sid = params["CallSid"][:34]
    answered_by = params.get("AnsweredBy", "")[:24]
    if answered_by and row.answered_by is None:
        row.answered_by = answered_by
    session.flush()
    return row


def person_answered(
    session: Session, survey_id: int, attempt: int, row: SurveyAttempt | None
) -> bool:
    """Whether a person took the attempt: detection said so (human/unknown), or, with no word
    from detection (its callback is late or lost), they answered a question."""
    answered_by = row.answered_by if row else None
    if answered_by is not None:
        return not is_machine(answered_by)
    answered = session.scalar(
        select(func.count())
        .select_from(SurveyAnswer)
        .where(SurveyAnswer.survey_id == survey_id, SurveyAnswer.attempt == attempt)
    )
    return bool(answered)


def end_attempt(
    session: Session,
    survey: CaseSurvey,
    attempt: int,
    status: str,
    ctx: Context,
    now: dt.datetime,
) -> None:
    """An attempt is over: conclude the survey, plan the next attempt, or give up."""
    row = attempt_row(session, survey.id, attempt)
    answered_by = row.answered_by if row else None
    if status == "completed" and person_answered(session, survey.id, attempt, row):
        finish(
            session, survey, attempt, SurveyState.COMPLETED, SurveyOutcome.ANSWERED, ctx, now=now
        )
        return
    how = "machine" if is_machine(answered_by) else status
    note = f"attempt {attempt}: {_FAILED_HOW.get(how, how)}"
    when = next_attempt_at(survey, ctx, now, stored_holidays(session))
    if when is None:
        finish(session, survey, attempt, SurveyState.UNREACHABLE, None, ctx, note=note, now=now)
        return
    session.execute(
        update(CaseSurvey)
        .where(
            CaseSurvey.id == survey.id,
            CaseSurvey.state == SurveyState.DIALING,
            CaseSurvey.attempts == attempt,
        )
        .values(state=SurveyState.SCHEDULED, due_at=when, note=note, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def next_attempt_at(
    survey: CaseSurvey, ctx: Context, now: dt.datetime, holidays: Mapping[dt.date, str]
) -> dt.datetime | None:
    """When to try again: attempts spread evenly over the window, inside calling hours.

    None when the attempts are used up or the next one would fall outside the window.
    """
    definition = ctx.survey
    if survey.attempts >= definition.attempts:
        return None
    first = survey.first_attempt_at or now
    planned = first + definition.window * survey.attempts / definition.attempts
    when = next_calling_time(max(planned, now), definition, ctx.settings.tz, holidays)
    return when if when <= first + definition.window else None
