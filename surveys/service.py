"""Scheduling callback surveys from resolved cases (the sweep's job); opting numbers out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from cases.models import Case
from cases.workflow import CaseState
from core.db import insert_if_missing, utcnow
from surveys.definition import Survey
from surveys.models import CaseSurvey, SurveyOptOut, SurveyState
from surveys.schedule import due_time

BATCH = 500


def schedule_surveys(
    session: Session,
    survey: Survey,
    tz: dt.tzinfo,
    holidays: Mapping[dt.date, str],
    now: dt.datetime | None = None,
) -> int:
    """Give every newly resolved case its one survey (or a visible reason why not)."""
    now = now or utcnow()
    waiting = session.scalars(
        select(Case)
        .outerjoin(
            CaseSurvey,
            and_(CaseSurvey.case_number == Case.number, CaseSurvey.round == Case.reopen_count),
        )
        .where(
            Case.state == CaseState.RESOLVED, Case.resolved_at.is_not(None), CaseSurvey.id.is_(None)
        )
        .order_by(Case.resolved_at)
        .limit(BATCH)
    ).all()
    for case in waiting:
        state, note = SurveyState.SCHEDULED, ""
        if case.confidential:
            state, note = SurveyState.CANCELLED, "the caller asked for confidentiality"
        elif case.caller_number is None:
            state, note = SurveyState.CANCELLED, "no number to call back"
        elif opted_out(session, case.caller_number):
            state, note = SurveyState.CANCELLED, "the number opted out of surveys"
        assert case.resolved_at is not None  # noqa: S101 (filtered in the query)
        insert_if_missing(
            session,
            CaseSurvey,
            {
                "case_number": case.number,
                "round": case.reopen_count,
                "caller_number": case.caller_number,
                "state": state,
                "due_at": due_time(case.resolved_at, survey, tz, holidays),
                "attempts": 0,
                "note": note,
                "language": "en" if case.language == "en" else "zh",
                "created_at": now,
                "updated_at": now,
            },
            unique=("case_number", "round"),
        )
    return len(waiting)


def opted_out(session: Session, number: str) -> bool:
    return session.get(SurveyOptOut, number) is not None


def opt_out(session: Session, number: str, source: str) -> bool:
    """Never survey `number` again (and cancel its scheduled surveys); False if already out."""
    already = opted_out(session, number)
    insert_if_missing(
        session, SurveyOptOut, {"number": number, "at": utcnow(), "source": source}, unique="number"
    )
    for pending in session.scalars(
        select(CaseSurvey).where(
            CaseSurvey.caller_number == number, CaseSurvey.state == SurveyState.SCHEDULED
        )
    ):
        pending.state, pending.note = SurveyState.CANCELLED, "the number opted out of surveys"
        pending.updated_at = utcnow()
    session.flush()
    return not already


def surveys_of(session: Session, case_number: str) -> list[CaseSurvey]:
    return list(
        session.scalars(
            select(CaseSurvey)
            .where(CaseSurvey.case_number == case_number)
            .order_by(CaseSurvey.round)
            .execution_options(populate_existing=True)
        )
    )
