"""Cases: the list (a unit contact's: only the unit's), a case's page with its timeline,
surveys and recording, the workflow's actions as forms, and the recording's audio."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from cases import access, queries
from cases import service as cases
from cases.models import Case
from cases.service import NoteRequired, UnknownUnit
from cases.supervision import notify_dispatched
from cases.workflow import Action, CaseError, CaseState, IllegalTransition, allowed_actions
from console.auth import console_user, login_required
from console.display import categories, units
from console.i18n import t
from console.views.common import bp, flash_refusal, page_number, pager_args
from core import db
from core.calendar import stored_holidays
from core.db import utcnow
from core.phone import mask
from core.webhooks import settings
from recordings import service as recordings
from staff.models import Role
from staff.service import CENTER
from surveys.models import SurveyAnswer
from surveys.service import surveys_of

PAGE = 50
#: The list's filters: all that its pager's links carry besides the page.
CASE_FILTERS = ("state", "category", "unit", "overdue")


@bp.get("/cases")
@login_required(*CENTER, Role.UNIT)
def case_list() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in CaseState}:
        abort(400, description=f"unknown state {state!r}")
    category = request.args.get("category") or None
    unit = request.args.get("unit") or None
    if user.role is Role.UNIT:
        unit = user.unit_code or "(no unit)"
    overdue = True if request.args.get("overdue") == "1" else None
    page = page_number(request.args.get("page"))
    rows = queries.list_cases(
        db.session(),
        state=state,
        unit=unit,
        category=category,
        overdue=overdue,
        limit=PAGE + 1,
        offset=(page - 1) * PAGE,
    )
    return render_template(
        "console/cases.html",
        cases=rows[:PAGE],
        more=len(rows) > PAGE,
        page=page,
        states=[s.value for s in CaseState],
        categories=categories(),
        units=units(),
        now=utcnow(),
        chosen={"state": state, "category": category, "unit": unit, "overdue": overdue},
        pager=pager_args(request.args, CASE_FILTERS),
    )


def _visible_case(number: str) -> Case:
    user = console_user()
    assert user is not None  # noqa: S101
    case = db.session().scalar(select(Case).where(Case.number == number[:32]))
    if case is None:
        abort(404, description=f"no case {number}")
    if not access.can_see_case(user, case):
        abort(403, description="this case belongs to another unit")
    return case


@bp.get("/cases/<number>")
@login_required(*CENTER, Role.UNIT)
def case_page(number: str) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101
    case = _visible_case(number)
    session_ = db.session()
    surveys = surveys_of(session_, case.number)
    answers = {
        s.id: list(
            session_.scalars(
                select(SurveyAnswer).where(SurveyAnswer.survey_id == s.id).order_by(SurveyAnswer.id)
            )
        )
        for s in surveys
    }
    actions = [a for a in allowed_actions(case.state) if access.may(user, a)]
    return render_template(
        "console/case.html",
        case=case,
        events=queries.timeline(session_, case),
        surveys=surveys,
        answers=answers,
        actions=actions,
        units=units(),
        recording=recordings.get(session_, case.recording_sid) if case.recording_sid else None,
        masked=mask(case.caller_number) if case.confidential else None,
    )


@bp.post("/cases/<number>/act")
@login_required(*CENTER, Role.UNIT)
def case_act(number: str) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101
    case = _visible_case(number)
    action = request.form.get("action", "")
    if not access.may(user, action):
        abort(403, description=f"your role may not {action or 'do that'}")
    unit = request.form.get("unit") or None
    note = request.form.get("note", "")[:2000]
    session_ = db.session()
    try:
        cases.apply(
            session_,
            case.number,
            action,
            actor=f"console:{user.username}",
            note=note,
            unit_code=unit if action == Action.DISPATCH else None,
            units=units(),
            tz=settings().tz,
            holidays=stored_holidays(session_),
        )
        if action == Action.DISPATCH:
            notify_dispatched(session_, units(), case, settings().tz)
        session_.commit()
        flash(f"{case.number}: {t('action.' + action)} ✓", "ok")
    except CaseError as exc:
        session_.rollback()
        flash_refusal(_refusal(exc), exc)
    return redirect(url_for("console.case_page", number=case.number))


def _refusal(exc: CaseError) -> str:
    """The catalogue key that says why the workflow refused an action."""
    if isinstance(exc, IllegalTransition):
        return "refused.illegal"
    if isinstance(exc, NoteRequired):
        return "refused.note_required"
    if isinstance(exc, UnknownUnit):
        return "refused.unknown_unit"
    if "already dispatched" in str(exc):
        return "refused.same_unit"
    return "refused.case"


@bp.get("/recordings/<sid>")
@login_required(*CENTER, Role.UNIT)
def recording_media(sid: str) -> Any:
    case = db.session().scalar(select(Case).where(Case.recording_sid == sid[:34]))
    user = console_user()
    assert user is not None  # noqa: S101
    if user.role is Role.UNIT and (case is None or not access.can_see_case(user, case)):
        abort(403, description="this recording belongs to another unit's case")
    return recordings.media_response(db.session(), sid, settings())
