"""Answering machine detection of a survey call, and hanging up on a machine.

Detection runs in the background (AsyncAmd): the first question plays the moment the callee
picks up (synchronous detection holds the line silent for up to 30 s, and people who said "喂"
into silence hang up). When the detection callback says a machine, what it may have "answered"
is dropped and a `survey.hangup` job ends the call through the REST API; the call's TimeLimit
ends it anyway if that fails.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from config.settings import Settings
from core import jobs, twilio_rest
from surveys import schedule
from surveys.attempts import FINAL, CallbackReport, attempt_row, is_machine
from surveys.models import CaseSurvey, SurveyAnswer, SurveyState

log = logging.getLogger(__name__)

HANGUP = "survey.hangup"
#: Tries of a machine's hang-up (429/5xx/no answer); the call's TimeLimit is the backstop.
HANGUP_TRIES = 5


def detected(session: Session, survey: CaseSurvey, attempt: int, report: CallbackReport) -> bool:
    """Record the detection result; a machine on the line gets its call ended (by a job).

    What a machine's greeting "answered" is dropped, so the next attempt asks a person afresh.
    Returns whether a hang-up was scheduled. `human` and `unknown` change nothing else.
    """
    row = attempt_row(session, survey.id, attempt)
    if row is None or report.answered_by is None:
        return False
    if row.answered_by is None:
        row.answered_by = report.answered_by
    if row.call_sid is None:
        row.call_sid = report.call_sid
    session.flush()
    on_the_line = survey.state is SurveyState.DIALING and survey.attempts == attempt
    if not is_machine(report.answered_by) or row.status in FINAL:
        return False
    if not on_the_line:
        log.warning(
            "survey %s attempt %d: a machine (%s), but the survey is already %s",
            survey.id,
            attempt,
            report.answered_by,
            survey.state.value,
        )
        return False
    session.execute(
        delete(SurveyAnswer)
        .where(SurveyAnswer.survey_id == survey.id, SurveyAnswer.attempt == attempt)
        .execution_options(synchronize_session=False)
    )
    payload = {"survey_id": survey.id, "attempt": attempt, "call_sid": row.call_sid}
    job = jobs.schedule(
        session,
        HANGUP,
        f"{survey.id}:{attempt}",
        payload,
        due_at=schedule.now(),
        max_attempts=HANGUP_TRIES,
    )
    jobs.push_later(job)
    return True


@jobs.handler(HANGUP)
def hang_up(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """End a survey call a machine answered (Twilio then reports it `completed`)."""
    survey_id, attempt = int(payload["survey_id"]), int(payload["attempt"])
    row = attempt_row(session, survey_id, attempt)
    if row is None or row.status in FINAL:
        return  # over already: nothing to end
    call_sid = row.call_sid or str(payload["call_sid"])
    session.rollback()  # end the read before the network call
    try:
        twilio_rest.client(settings).calls(call_sid).update(status="completed")
    except TwilioRestException as exc:
        if exc.status == 429 or exc.status >= 500:
            raise
        # 21220 "not in progress", 20404: the call ended on its own in the meantime.
        log.info(
            "survey %s attempt %d: call %s already over (%s)", survey_id, attempt, call_sid, exc.msg
        )
        return
    log.info("survey %s attempt %d: hung up on a machine (%s)", survey_id, attempt, call_sid)
