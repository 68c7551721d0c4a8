"""What a survey's end does to its case: close it (办结), or send it back to be redone (重办).

A survey ends once: every path here starts with one conditional UPDATE of the survey
(`state = dialing AND attempts = n`), so a duplicated or late callback, a retried webhook or a
second worker finds nothing to do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases import supervision
from cases.models import Case
from cases.service import apply
from cases.units import Units, units_for_settings
from cases.workflow import Action, CaseState
from config.settings import Settings
from core import sms
from core.alerts import raise_alert
from core.calendar import stored_holidays
from providers.models import ProviderJob
from surveys import schedule
from surveys.definition import Survey, load_survey
from surveys.models import CaseSurvey, SurveyAnswer, SurveyOutcome, SurveyState

log = logging.getLogger(__name__)

ACTOR = "survey"


@dataclasses.dataclass(frozen=True)
class Context:
    """What ending a survey needs: the definition, the units, the hotline's settings."""

    survey: Survey
    settings: Settings
    units: Units

    @classmethod
    def of(cls, settings: Settings) -> Context:
        return cls(survey_definition(settings.survey_file), settings, units_for_settings(settings))


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Survey:
    return load_survey(path)


def survey_definition(path: Path) -> Survey:
    """The survey definition, loaded once per process while the file is unchanged."""
    return _load(path.resolve(), path.stat().st_mtime_ns)


def answers_of(session: Session, survey_id: int) -> list[SurveyAnswer]:
    return list(
        session.scalars(
            select(SurveyAnswer)
            .where(SurveyAnswer.survey_id == survey_id)
            .order_by(SurveyAnswer.id)
        )
    )


def finish(
    session: Session,
    survey: CaseSurvey,
    attempt: int,
    state: SurveyState,
    outcome: str | None,
    ctx: Context,
    *,
    note: str = "",
    now: dt.datetime | None = None,
) -> bool:
    """End the survey (if attempt `attempt` is still the one on the line) and act on the case.

    Negative answers reopen the case (重办), send it back to its unit and alert the unit's
    supervisor; anything else closes it (办结). Returns False when the survey had already ended.
    """
    now = now or schedule.now()
    answers = answers_of(session, survey.id)
    negative = any(a.positive is False for a in answers)
    if outcome == SurveyOutcome.ANSWERED and not answers:
        outcome = SurveyOutcome.NO_ANSWERS
    ended = session.execute(
        update(CaseSurvey)
        .where(
            CaseSurvey.id == survey.id,
            CaseSurvey.state == SurveyState.DIALING,
            CaseSurvey.attempts == attempt,
        )
        .values(
            state=state,
            outcome=outcome,
            negative=negative,
            concluded_at=now,
            updated_at=now,
            note=note[:200],
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(ended, "rowcount", 0):
        return False
    session.refresh(survey)
    summary = summarize(answers, ctx.survey, state, outcome)
    found = facts(answers, ctx.survey, state, outcome)
    case = session.scalar(select(Case).where(Case.number == survey.case_number))
    if case is None:
        log.warning("survey %s: case %s is gone", survey.id, survey.case_number)
        return True
    if negative:
        _redo(session, case, summary, found, ctx, now)
    elif case.state is CaseState.RESOLVED:
        apply(session, case.number, Action.CLOSE, actor=ACTOR, note=summary, data=found, now=now)
    _rate_provider(session, case.number, answers, ctx.survey)
    session.flush()
    return True


def facts(
    answers: list[SurveyAnswer], survey: Survey, state: SurveyState, outcome: str | None
) -> dict[str, Any]:
    """What the survey found, for the case event's data: the timeline shows it in the page's
    language (the note is `summarize`'s Chinese line, for the CLI and the API)."""
    found: dict[str, Any] = {"state": state.value, "outcome": outcome}
    by_question = {a.question: a for a in answers}
    for question in survey.questions:
        answer = by_question.get(question.id)
        if answer is None:
            continue
        if question.id == "resolved" and answer.value is not None:
            found["resolved"] = bool(answer.positive)
        elif question.score and answer.value is not None:
            found["score"] = answer.value
        elif answer.value is None and answer.text:
            found["comment"] = answer.text
    return {"survey": found}


def summarize(
    answers: list[SurveyAnswer], survey: Survey, state: SurveyState, outcome: str | None
) -> str:
    """One line for the case's timeline: 回访：未解决；满意度 1；意见：…"""
    if state is SurveyState.UNREACHABLE:
        return "回访未接通（多次呼叫无人接听），按规定结案"
    if outcome == SurveyOutcome.OPTED_OUT and not answers:
        return "来电人在回访中选择不再接受回访"
    if not answers:
        return "回访接通，来电人未作答"
    by_question = {a.question: a for a in answers}
    parts = []
    for question in survey.questions:
        answer = by_question.get(question.id)
        if answer is None:
            continue
        if question.id == "resolved" and answer.value is not None:
            parts.append("已解决" if answer.positive else "未解决")
        elif question.score and answer.value is not None:
            parts.append(f"满意度 {answer.value} 分（5 分最满意）")
        elif answer.value is not None:
            parts.append(f"{question.id}: {answer.value}")
        else:
            parts.append(f"意见：{answer.text}")
    return "回访：" + "；".join(parts)


def _redo(
    session: Session,
    case: Case,
    summary: str,
    found: dict[str, Any],
    ctx: Context,
    now: dt.datetime,
) -> None:
    """重办: reopen with the answers attached, back to the same unit, supervisor alerted."""
    if case.state not in (CaseState.RESOLVED, CaseState.CLOSED):
        log.info("survey of %s is negative but the case is %s already", case.number, case.state)
        return
    settings = ctx.settings
    holidays = stored_holidays(session)
    apply(
        session,
        case.number,
        Action.REOPEN,
        actor=ACTOR,
        note=summary,
        tz=settings.tz,
        holidays=holidays,
        data=found,
        now=now,
    )
    unit = ctx.units.get(case.unit_code or "") or ctx.units.default
    apply(
        session,
        case.number,
        Action.DISPATCH,
        actor=ACTOR,
        note="回访不满意，退回原单位重办",
        unit_code=unit.code,
        units=ctx.units,
        data={"survey_redo": True},
        now=now,
    )
    supervision.notify_dispatched(session, ctx.units, case, settings.tz)
    raise_alert(
        session,
        {
            "call_sid": None,
            "priority": 1,
            "kind": f"reopen:{case.number}"[:32],
            "message": f"case {case.number} ({unit.code}) reopened by its callback survey: "
            f"{summary}",
            "at": now,
        },
    )
    sms.schedule_sms(
        session,
        key=f"case-reopen:{case.number}:{case.reopen_count}",
        to=unit.supervisor,
        body=f"【民生110重办】工单 {case.number}（{unit.name_zh}）回访不满意，已退回重办。"
        + summary,
        case_number=case.number,
        settings=settings,
        to_staff=True,
    )


def _rate_provider(
    session: Session, case_number: str, answers: list[SurveyAnswer], survey: Survey
) -> None:
    """A contracted provider's completed job gets the caller's 1-to-5 rating."""
    scored = {q.id for q in survey.questions if q.score}
    rating = next((a.value for a in answers if a.question in scored and a.value), None)
    if rating is None:
        return
    job = session.scalar(
        select(ProviderJob)
        .where(ProviderJob.case_number == case_number, ProviderJob.completed_at.is_not(None))
        .order_by(ProviderJob.completed_at.desc())
        .limit(1)
    )
    if job is not None:
        job.satisfaction = int(rating)
