"""The JSON API (`/api/v1`): the console's resources for units and other city systems.

Every route but the OpenAPI document needs `Authorization: Bearer <token>` (`hotline users token
NAME`); the token acts as its user, with that user's role: a unit contact sees only the unit's
cases (and their recordings), the center's roles see everything, a `client` (a city app) files
requests through Open311 and reads nothing here. Lists are paginated with `limit` (1–200,
default 50) and `offset`; the answer says `next_offset` (null at the end). Errors are JSON
`{"error": …, "reason": …}` with a 4xx status. The document at `/api/v1/openapi.json`
(`api/openapi.py`) describes exactly these routes and is checked by schemathesis in the tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from api.openapi import document
from cases import access
from cases import service as cases
from cases.models import Case
from cases.workflow import OPEN_STATES, Action, CaseError, CaseState
from console import board
from core import db
from core.db import utcnow
from core.webhooks import settings
from providers.models import Provider
from staff import service as staff
from staff.models import Role, StaffUser
from staff.service import CENTER
from surveys.models import CaseSurvey, SurveyAnswer, SurveyState

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api_v1.openapi":
        return
    user = staff.api_user(session=db.session())
    if user is None:
        abort(401, description="a valid bearer token is required (Authorization: Bearer …)")
    if user.role is Role.CLIENT:
        abort(403, description="a client token files requests through Open311 only")
    g.user = user


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException) -> tuple[Response, int]:
    db.session().rollback()
    code = exc.code or 500
    response = jsonify(error=exc.name, reason=exc.description)
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="minsheng-hotline"'
    return response, code


def user() -> StaffUser:
    current: StaffUser = g.user
    return current


def center_only() -> None:
    if user().role not in CENTER:
        abort(403, description="this resource is for the service center's roles")


def center_or_unit_case(case: Case | None) -> None:
    """Allow the center's roles; a unit contact only for a case of the unit."""
    if user().role in CENTER:
        return
    if case is None or not access.can_see_case(user(), case):
        abort(403, description="this belongs to another unit's case")


def page_args() -> tuple[int, int]:
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, MAX_OFFSET)
    return limit, offset


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400, description=f"{name}: a whole number from {low} to {high}")
    return int(raw)


def paged(items: list[dict[str, Any]], limit: int, offset: int) -> Response:
    """`items` fetched with limit+1: the page, and where the next one starts."""
    more = len(items) > limit
    return jsonify(
        items=items[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI 3 document."""
    return jsonify(document(settings().public_base_url))


# ------------------------------------------------------------------------------------- cases


def case_json(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "state": case.state.value,
        "kind": case.kind.value,
        "category": case.category,
        "unit": case.unit_code,
        "language": case.language,
        "source": case.source.value,
        "confidential": case.confidential,
        "caller": None if case.confidential else case.caller_number,
        "transcript": case.transcript,
        "feedback": case.feedback,
        "recording_sid": case.recording_sid,
        "reopen_count": case.reopen_count,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "due_at": case.due_at.isoformat(),
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "overdue": case.state in OPEN_STATES and case.due_at <= utcnow(),
    }


@bp.get("/cases")
def list_cases() -> Response:
    limit, offset = page_args()
    state = request.args.get("state")
    if state is not None and state not in {s.value for s in CaseState}:
        abort(400, description=f"state: one of {', '.join(s.value for s in CaseState)}")
    overdue_arg = request.args.get("overdue")
    if overdue_arg not in (None, "true", "false"):
        abort(400, description="overdue: true or false")
    unit = request.args.get("unit")
    if user().role is Role.UNIT:
        unit = user().unit_code or "(no unit)"
    rows = cases.list_cases(
        db.session(),
        state=state,
        unit=unit,
        category=request.args.get("category"),
        overdue=None if overdue_arg is None else overdue_arg == "true",
        limit=limit + 1,
        offset=offset,
    )
    return paged([case_json(c) for c in rows], limit, offset)


def _case(number: str) -> Case:
    case = db.session().scalar(select(Case).where(Case.number == number[:32]))
    if case is None:
        abort(404, description=f"no case {number[:32]!r}")
    center_or_unit_case(case)
    return case


@bp.get("/cases/<number>")
def get_case(number: str) -> Response:
    case = _case(number)
    events = [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "from_state": e.from_state.value if e.from_state else None,
            "to_state": e.to_state.value,
            "note": e.note,
        }
        for e in cases.timeline(db.session(), case)
    ]
    return jsonify({**case_json(case), "timeline": events})


@bp.post("/cases/<number>/actions")
def act_on_case(number: str) -> tuple[Response, int]:
    case = _case(number)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='a JSON object is required, e.g. {"action": "accept"}')
    action, note, unit = body.get("action"), body.get("note", ""), body.get("unit")
    if not isinstance(action, str) or action not in {a.value for a in Action}:
        abort(400, description=f"action: one of {', '.join(a.value for a in Action)}")
    if not isinstance(note, str) or len(note) > 2000 or "\x00" in note:
        abort(400, description="note: text of at most 2000 characters, without NUL")
    if unit is not None and (not isinstance(unit, str) or "\x00" in unit):
        abort(400, description="unit: a unit code")
    if unit is not None and action != Action.DISPATCH:
        abort(400, description=f"unit: only dispatch takes a unit, not {action}")
    if not access.may(user(), action):
        abort(403, description=f"the role {user().role.value} may not {action}")
    session = db.session()
    units = current_app.extensions["hotline.units"]
    try:
        cases.apply(
            session,
            case.number,
            action,
            actor=f"api:{user().username}",
            note=note,
            unit_code=unit,
            units=units,
            tz=settings().tz,
            holidays=cases.stored_holidays(session),
        )
        if action == Action.DISPATCH:
            from cases.supervision import notify_dispatched

            notify_dispatched(session, units, case, settings().tz)
    except CaseError as exc:
        session.rollback()
        abort(409, description=str(exc))
    session.commit()
    return jsonify(case_json(_case(number))), 200


# ------------------------------------------------------------------------------------- calls


@bp.get("/calls")
def list_calls() -> Response:
    center_only()
    limit, offset = page_args()
    hours = _int_arg("hours", 24, 1, 24 * 31)
    now = utcnow()
    rows = board.recent_calls(
        db.session(), now, since=now - dt.timedelta(hours=hours), limit=limit + 1, offset=offset
    )
    return paged([r.as_dict() for r in rows], limit, offset)


@bp.get("/calls/<call_sid>")
def get_call(call_sid: str) -> Response:
    center_only()
    rows = board.recent_calls(db.session(), utcnow(), since=utcnow(), call_sid=call_sid[:34])
    if not rows:
        abort(404, description=f"no call {call_sid[:34]!r}")
    return jsonify(rows[0].as_dict())


# ------------------------------------------------------------------------------------ roster


@bp.get("/roster/now")
def roster_now() -> Response:
    center_only()
    from routing.roster import on_duty

    roster = current_app.extensions["hotline.roster"].get()
    if roster is None:
        abort(404, description="no roster imported yet")
    now = utcnow()
    teams = [
        {
            "team": code,
            "name_zh": team.name_zh,
            "name_en": team.name_en,
            "on_duty": [
                {"code": o.code, "name": o.name, "phone": o.phone}
                for o in on_duty(roster, code, now)
            ],
        }
        for code, team in roster.teams.items()
    ]
    return jsonify(at=now.isoformat(), teams=teams)


# ----------------------------------------------------------------------------------- surveys


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


# --------------------------------------------------------------------------------- providers


@bp.get("/providers")
def list_providers() -> Response:
    center_only()
    rows = db.session().scalars(select(Provider).order_by(Provider.code)).all()
    return jsonify(
        items=[
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "state": p.state.value,
                "categories": list(p.categories or []),
                "contract_start": p.contract_start.isoformat(),
                "contract_end": p.contract_end.isoformat(),
            }
            for p in rows
        ]
    )


# ----------------------------------------------------------------------------------- figures


@bp.get("/figures")
def get_figures() -> Response:
    center_only()
    from console.views import figures_for_request

    result, _, _ = figures_for_request()
    return jsonify(result.as_dict())


def init_app(app: Flask) -> None:
    import recordings.api  # noqa: F401  (its routes are on this blueprint)

    app.register_blueprint(bp)
