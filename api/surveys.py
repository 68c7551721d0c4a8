"""Callback surveys over the API (`/api/v1/surveys`), with their answers; for the center's
roles only."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request
from sqlalchemy import select

from api.common import bp, center_only, page_args, paged
from core import db
from surveys.models import CaseSurvey, SurveyAnswer, SurveyState


@bp.get("/surveys")
def list_surveys() -> Response:
    center_only()
    limit, offset = page_args()
    query = select(CaseSurvey).order_by(CaseSurvey.id.desc())
    state = request.args.get("state")
    if state is not None:
        if state not in {s.value for s in SurveyState}:
            abort(400, description=f"state: one of {', '.join(s.value for s in SurveyState)}")
        query = query.where(CaseSurvey.state == SurveyState(state))
    if request.args.get("case"):
        query = query.where(CaseSurvey.case_number == request.args["case"][:32])
    session = db.session()
    rows = session.scalars(query.limit(limit + 1).offset(offset)).all()
    answers: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for a in session.scalars(
            select(SurveyAnswer).where(SurveyAnswer.survey_id.in_([s.id for s in rows]))
        ):
            answers.setdefault(a.survey_id, []).append(
                {"question": a.question, "value": a.value, "positive": a.positive, "text": a.text}
            )
    items = [
        {
            "case": s.case_number,
            "round": s.round,
            "state": s.state.value,
            "outcome": s.outcome,
            "attempts": s.attempts,
            "due_at": s.due_at.isoformat(),
            "concluded_at": s.concluded_at.isoformat() if s.concluded_at else None,
            "negative": s.negative,
            "note": s.note,
            "answers": answers.get(s.id, []),
        }
        for s in rows
    ]
    return paged(items, limit, offset)
