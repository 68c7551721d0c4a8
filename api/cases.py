"""Cases over the API (`/api/v1/cases`): list, one with its timeline, and the workflow's actions.

A unit contact's token sees and acts on the unit's cases only; what a role may do is
cases.access's rule.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy import select

from api.common import bp, center_or_unit_case, page_args, paged, user
from cases import access, queries
from cases import service as cases
from cases.models import Case
from cases.supervision import notify_dispatched
from cases.workflow import OPEN_STATES, Action, CaseError, CaseState
from core import db
from core.calendar import stored_holidays
from core.db import utcnow
from core.webhooks import settings
from staff.models import Role


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
        "location": location_json(case),
        "contact": None if case.confidential else contact_json(case),
        "reopen_count": case.reopen_count,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "due_at": case.due_at.isoformat(),
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "overdue": case.state in OPEN_STATES and case.due_at <= utcnow(),
    }


def location_json(case: Case) -> dict[str, Any] | None:
    """Where the request is about, as a city app reported it (None when nothing was given)."""
    if case.address is None and case.latitude is None and case.media_url is None:
        return None
    return {
        "address": case.address,
        "latitude": case.latitude,
        "longitude": case.longitude,
        "media_url": case.media_url,
    }


def contact_json(case: Case) -> dict[str, Any] | None:
    """The filer's name and e-mail address, as a city app gave them (None when nothing was)."""
    contact = {
        "first_name": case.contact_first_name,
        "last_name": case.contact_last_name,
        "email": case.contact_email,
    }
    return contact if any(contact.values()) else None


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
    rows = queries.list_cases(
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
        for e in queries.timeline(db.session(), case)
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
            holidays=stored_holidays(session),
        )
        if action == Action.DISPATCH:
            notify_dispatched(session, units, case, settings().tz)
    except CaseError as exc:
        session.rollback()
        abort(409, description=str(exc))
    session.commit()
    return jsonify(case_json(_case(number))), 200
