"""Placing survey calls: due surveys become `survey.dial` jobs, paced across every worker.

The database is the source of truth. The sweep gives each due survey a dial job (one per
attempt, so a job runs once however often it is pushed). The job takes the survey with one
conditional UPDATE and a slot of the global pace limit (`core.pacer`) in the same transaction,
commits, and only then asks Twilio to place the call — so a crash can never dial twice, and a
crash before Twilio answered leaves a `dialing` attempt that the sweep ends after `STALE`.

Twilio answering 429 or 5xx, or not answering at all, is retried by the job with backoff (the
same attempt); any other refusal ends the attempt as failed (`surveys.attempts`, which also
follows each attempt to its end). The call runs answering machine detection in the background
(`surveys.detection`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from cases.models import Case
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs, pacer, twilio_rest
from core.calendar import stored_holidays
from core.db import insert_if_missing
from surveys import schedule
from surveys.attempts import attempt_row, end_attempt, forward, person_answered
from surveys.definition import Survey
from surveys.models import CaseSurvey, SurveyAttempt, SurveyState
from surveys.outcome import Context
from surveys.schedule import next_calling_time
from surveys.service import opted_out
from surveys.urls import amd_url, call_urls

log = logging.getLogger(__name__)

DIAL = "survey.dial"
PACER = "survey-calls"
#: A worker waits at most this long for its pace slot; longer, and the job comes back later.
MAX_WAIT_S = 5.0
#: Calls are spaced 10% wider than the limit: the network between a worker and Twilio jitters.
MARGIN = 1.1
#: A `dialing` survey with no news for this long lost its call (a crash, lost callbacks).
STALE = dt.timedelta(hours=1)
#: Tries of one attempt's dial job when Twilio answers 429/5xx or times out (backoff 30 s → 32 min).
DIAL_TRIES = 8
BATCH = 200
#: How long a dial job waits before looking again whether Twilio has been configured.
NOT_CONFIGURED_WAIT = dt.timedelta(minutes=10)
#: What the status callback and the answer webhook ask Twilio for.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


# ---------------------------------------------------------------------------------- the sweep


def queue_due(session: Session, survey: Survey, now: dt.datetime) -> int:
    """Give the earliest due surveys their dial jobs; the sweep pushes the jobs right after.

    At most a minute's worth at the pace limit: a backlog (after an outage, or a morning after a
    busy evening) flows out at the pace instead of flooding the queue with jobs that would
    only be deferred again and again.
    """
    minute = max(1, math.ceil(survey.calls_per_second * 60 / MARGIN))
    due = session.execute(
        select(CaseSurvey.id, CaseSurvey.attempts)
        .where(CaseSurvey.state == SurveyState.SCHEDULED, CaseSurvey.due_at <= now)
        .order_by(CaseSurvey.due_at, CaseSurvey.id)
        .limit(min(BATCH, minute))
    ).all()
    for survey_id, attempts in due:
        schedule_dial(session, survey_id, attempts + 1, now)
    return len(due)


def schedule_dial(
    session: Session, survey_id: int, attempt: int, now: dt.datetime, *, ignore_hours: bool = False
) -> str:
    """The dial job of one attempt (a no-op if it exists); returns its key."""
    key = f"{survey_id}:{attempt}" + (":now" if ignore_hours else "")
    payload = {"survey_id": survey_id, "attempt": attempt, "ignore_hours": ignore_hours}
    jobs.schedule(session, DIAL, key, payload, due_at=now, max_attempts=DIAL_TRIES)
    return key


def recover_stale(session: Session, ctx: Context, now: dt.datetime) -> int:
    """End attempts that have been `dialing` with no news for longer than STALE."""
    stale = session.scalars(
        select(CaseSurvey)
        .where(CaseSurvey.state == SurveyState.DIALING, CaseSurvey.last_attempt_at < now - STALE)
        .limit(BATCH)
    ).all()
    for survey in stale:
        row = attempt_row(session, survey.id, survey.attempts)
        person = person_answered(session, survey.id, survey.attempts, row)
        end_attempt(session, survey, survey.attempts, "completed" if person else "lost", ctx, now)
    return len(stale)


# -------------------------------------------------------------------------------- the dial job


@jobs.handler(DIAL)
def dial(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Place one attempt of a survey call (see the module's docstring)."""
    ctx = Context.of(settings)
    survey_id, attempt = int(payload["survey_id"]), int(payload["attempt"])
    now = schedule.now()
    survey = session.get(CaseSurvey, survey_id)
    if survey is None:
        return
    retrying = survey.state is SurveyState.DIALING and survey.attempts == attempt
    if not retrying and not (
        survey.state is SurveyState.SCHEDULED and survey.attempts == attempt - 1
    ):
        return  # already placed, ended or cancelled: an old or duplicate job
    if not retrying:
        reason = _not_to_be_called(session, survey)
        if reason:
            _cancel(session, survey, reason, now)
            session.commit()
            return
        if survey.due_at > now:
            raise jobs.Defer(survey.due_at, "not due yet")
        if not payload.get("ignore_hours"):
            holidays = stored_holidays(session)
            when = next_calling_time(now, ctx.survey, settings.tz, holidays)
            if when > now:
                survey.due_at, survey.updated_at = when, now
                session.commit()
                raise jobs.Defer(when, "outside calling hours")
    if not twilio_rest.configured(settings):
        # Nothing can be placed: the survey waits, visibly scheduled, instead of burning tries.
        log.warning("survey %s: Twilio is not configured; not dialling", survey_id)
        raise jobs.Defer(now + NOT_CONFIGURED_WAIT, "Twilio is not configured")
    to, language = survey.caller_number, survey.language
    # End the read: on SQLite a transaction that read before another worker wrote cannot write.
    session.rollback()
    interval = MARGIN / ctx.survey.calls_per_second
    slot = pacer.claim(session, PACER, interval, max_wait_s=MAX_WAIT_S)
    if not slot.granted:
        session.rollback()
        raise jobs.Defer(dt.datetime.fromtimestamp(slot.at, dt.UTC), "pace limit")
    placed_at = dt.datetime.fromtimestamp(slot.at, dt.UTC)
    if not _take(session, survey_id, attempt, retrying, now, placed_at):
        session.rollback()  # another worker took it first; the slot goes back unused
        return
    session.commit()
    assert to is not None  # noqa: S101 (_not_to_be_called refuses surveys without a number)
    try:
        call = place_call(settings, ctx.survey, survey_id, attempt, to, at=slot.at)
    except TwilioRestException as exc:
        if exc.status == 429 or exc.status >= 500:
            _attempt_error(session, survey_id, attempt, f"HTTP {exc.status}: {exc.msg}")
            raise
        _attempt_error(session, survey_id, attempt, f"HTTP {exc.status}: {exc.msg}")
        survey = session.get(CaseSurvey, survey_id, populate_existing=True)
        if survey is not None:
            end_attempt(session, survey, attempt, "error", ctx, schedule.now())
        return
    except OSError as exc:  # no connection, timeout (requests' errors are OSErrors)
        _attempt_error(session, survey_id, attempt, f"{type(exc).__name__}: {exc}")
        raise
    session.execute(
        update(SurveyAttempt)
        .where(SurveyAttempt.survey_id == survey_id, SurveyAttempt.attempt == attempt)
        .values(
            call_sid=func.coalesce(SurveyAttempt.call_sid, call.sid),
            # A new call is "queued" (Prism's sample says otherwise); callbacks tell the rest.
            status=forward(session, survey_id, attempt, "queued"),
        )
        .execution_options(synchronize_session=False)
    )
    log.info("survey %s attempt %d: call %s placed (%s)", survey_id, attempt, call.sid, language)


def place_call(
    settings: Settings, survey: Survey, survey_id: int, attempt: int, to: str, *, at: float
) -> Any:
    """Ask Twilio to place the call at `at` (epoch s): background machine detection, a time
    limit, every status reported, through the BYOC trunk when one is set.

    Everything but the request itself is done before waiting for the slot, so the request leaves
    at the slot's start and the gap between two calls stays the pace's interval.
    """
    answer_url, status_url = call_urls(settings, survey_id, attempt)
    carrier = {"byoc": settings.twilio_byoc_trunk_sid} if settings.twilio_byoc_trunk_sid else {}
    calls = twilio_rest.client(settings).calls
    time.sleep(max(0.0, at - time.time()))
    return calls.create(
        to=to,
        from_=settings.hotline_number,
        url=answer_url,
        method="POST",
        status_callback=status_url,
        status_callback_method="POST",
        status_callback_event=list(STATUS_EVENTS),
        machine_detection="Enable",
        # Twilio's AsyncAmd is a string parameter ("true"/"false"), not a form boolean.
        async_amd="true",
        async_amd_status_callback=amd_url(settings, survey_id, attempt),
        async_amd_status_callback_method="POST",
        timeout=survey.ring_seconds,
        time_limit=survey.time_limit_s,
        **carrier,
    )


def _not_to_be_called(session: Session, survey: CaseSurvey) -> str:
    if survey.caller_number is None:
        return "no number to call back"
    if opted_out(session, survey.caller_number):
        return "the number opted out of surveys"
    state = session.scalar(select(Case.state).where(Case.number == survey.case_number))
    if state not in (CaseState.RESOLVED, CaseState.CLOSED):
        return f"the case is {state.value if state else 'gone'}, not resolved"
    return ""


def _cancel(session: Session, survey: CaseSurvey, reason: str, now: dt.datetime) -> None:
    survey.state, survey.note, survey.updated_at = SurveyState.CANCELLED, reason, now
    session.flush()


def _take(
    session: Session,
    survey_id: int,
    attempt: int,
    retrying: bool,
    now: dt.datetime,
    placed_at: dt.datetime,
) -> bool:
    """Make attempt `attempt` ours: one conditional UPDATE, so only one worker dials it.

    `placed_at` is the start of the attempt's pace slot: when the request leaves for Twilio.
    """
    if retrying:
        taken = session.execute(
            update(SurveyAttempt)
            .where(
                SurveyAttempt.survey_id == survey_id,
                SurveyAttempt.attempt == attempt,
                SurveyAttempt.status == "error",
                SurveyAttempt.call_sid.is_(None),
            )
            .values(status="dialing", error=None, placed_at=placed_at)
            .execution_options(synchronize_session=False)
        )
    else:
        taken = session.execute(
            update(CaseSurvey)
            .where(
                CaseSurvey.id == survey_id,
                CaseSurvey.state == SurveyState.SCHEDULED,
                CaseSurvey.attempts == attempt - 1,
            )
            .values(
                state=SurveyState.DIALING,
                attempts=attempt,
                first_attempt_at=func.coalesce(CaseSurvey.first_attempt_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    if not getattr(taken, "rowcount", 0):
        return False
    session.execute(
        update(CaseSurvey)
        .where(CaseSurvey.id == survey_id)
        .values(last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    insert_if_missing(
        session,
        SurveyAttempt,
        {"survey_id": survey_id, "attempt": attempt, "status": "dialing", "placed_at": placed_at},
        unique=("survey_id", "attempt"),
    )
    return True


def _attempt_error(session: Session, survey_id: int, attempt: int, error: str) -> None:
    session.rollback()
    session.execute(
        update(SurveyAttempt)
        .where(
            SurveyAttempt.survey_id == survey_id,
            SurveyAttempt.attempt == attempt,
            SurveyAttempt.call_sid.is_(None),
        )
        .values(status="error", error=error[:300])
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.warning(
        "survey %s attempt %d: Twilio did not place the call: %s", survey_id, attempt, error
    )
