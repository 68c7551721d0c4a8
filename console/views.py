"""The service center's console: server-rendered pages, a little JavaScript for the live board.

Every page needs a login; what a user sees follows their role (staff.service). State changes are
POST forms carrying the session's CSRF token, and answer with a redirect (no double submits).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import yaml
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from cases import access
from cases import service as cases
from cases.models import Case
from cases.units import Units
from cases.workflow import Action, CaseError, CaseState, allowed_actions
from console import auth, board, figures
from console.auth import console_user, login_required
from console.i18n import language, t
from core import db
from core.db import utcnow
from core.phone import mask
from core.webhooks import settings
from recordings import service as recordings
from routing import store
from routing.roster import RosterError, coverage_gaps, on_duty, parse_roster, roster_to_dict
from staff import service as staff
from staff.models import Role
from staff.service import CENTER, ROSTER_EDITORS
from surveys.models import SurveyAnswer
from surveys.service import surveys_of

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PAGE = 50


@bp.before_request
def _csrf() -> None:
    auth.check_csrf()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    db.session().rollback()
    code = exc.code or 500
    return render_template(
        "console/error.html", code=code, name=exc.name, reason=exc.description
    ), code


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "t": t,
        "lang": language,
        "user": console_user,
        "csrf_token": auth.csrf_token,
        "local": _local,
        "category_name": _category_name,
        "route_name": _route_name,
        "urgent_callbacks": _urgent_callbacks,
        "Role": Role,
        "CENTER": CENTER,
    }


def _local(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return value.astimezone(settings().tz).strftime(fmt) if value else "-"


def _category_name(category: str | None) -> str:
    if not category:
        return "-"
    from ivr.views import config

    return config().rules.name(category, language())


def _route_name(route: str | None) -> str:
    """A bridge route's name: an emergency category's, or the desk's."""
    return t("route.desk") if route == "desk" else _category_name(route)


def _urgent_callbacks() -> int:
    """Open priority-0 call-back tasks (abandoned emergencies), for the center's roles only."""
    user = console_user()
    if user is None or user.role not in CENTER:
        return 0
    return store.open_callback_count(db.session(), priority=0)


def _units() -> Units:
    units: Units = current_app.extensions["hotline.units"]
    return units


# ------------------------------------------------------------------------------ logging in


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            user = staff.authenticate(
                request.form.get("username", ""),
                request.form.get("password", ""),
                session=db.session(),
            )
        except staff.LoginError as exc:
            db.session().commit()  # the failed attempt counts, a lock-out holds
            error = str(exc)
        else:
            db.session().commit()
            auth.start_session(user)
            target = request.args.get("next", "")
            safe = target.startswith("/console/") and not target.startswith("//")
            return redirect(target if safe else url_for("console.home"))
    return render_template("console/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required()
def home() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    return redirect(url_for("console.live" if user.role in CENTER else "console.case_list"))


# ------------------------------------------------------------------------------ the live board


@bp.get("/board")
@login_required(*CENTER)
def live() -> Any:
    return render_template("console/board.html")


@bp.get("/board.json")
@login_required(*CENTER)
def board_json() -> Any:
    now = utcnow()
    rows = board.recent_calls(db.session(), now, since=now - dt.timedelta(hours=1))
    live_rows = [r for r in rows if r.live]
    return jsonify(
        now=_local(now, "%H:%M:%S"),
        live=[_board_row(r) for r in live_rows],
        recent=[_board_row(r) for r in rows if not r.live],
        urgent_callbacks=_urgent_callbacks(),
    )


def _board_row(row: board.CallRow) -> dict[str, Any]:
    return {
        "sid": row.call_sid,
        "caller": row.caller,
        "status": row.status,
        "started": _local(row.started_at, "%H:%M:%S"),
        "duration": row.duration_s,
        "branch": row.branch or "-",
        "classification": (
            f"{row.kind or '-'} · {_category_name(row.category)}" if row.kind else "-"
        ),
        "answered_by": row.answered_by or row.answered_phone or "-",
    }


# ------------------------------------------------------------------------------------- cases


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
    page = max(1, _int(request.args.get("page"), 1))
    rows = cases.list_cases(
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
        categories=_categories(),
        units=_units(),
        now=utcnow(),
        chosen={"state": state, "category": category, "unit": unit, "overdue": overdue},
    )


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 7 else default


def _categories() -> list[str]:
    from ivr.views import config

    return list(config().rules.categories)


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
        events=cases.timeline(session_, case),
        surveys=surveys,
        answers=answers,
        actions=actions,
        units=_units(),
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
            units=_units(),
            tz=settings().tz,
            holidays=cases.stored_holidays(session_),
        )
        if action == Action.DISPATCH:
            from cases.supervision import notify_dispatched

            notify_dispatched(session_, _units(), case, settings().tz)
        session_.commit()
        flash(f"{case.number}: {t('action.' + action)} ✓", "ok")
    except CaseError as exc:
        session_.rollback()
        flash(str(exc), "error")
    return redirect(url_for("console.case_page", number=case.number))


@bp.get("/recordings/<sid>")
@login_required(*CENTER, Role.UNIT)
def recording_media(sid: str) -> Any:
    case = db.session().scalar(select(Case).where(Case.recording_sid == sid[:34]))
    user = console_user()
    assert user is not None  # noqa: S101
    if user.role is Role.UNIT and (case is None or not access.can_see_case(user, case)):
        abort(403, description="this recording belongs to another unit's case")
    return recordings.media_response(db.session(), sid, settings())


# -------------------------------------------------------------------------------- call-backs
#: A task id in a URL: anything larger cannot be a row (and would overflow BIGINT).
_TASK_ID = "<int(max=9223372036854775807):task_id>"


@bp.get("/callbacks")
@login_required(*CENTER)
def callbacks_page() -> Any:
    """Callers to call back: open tasks by priority then age, with full numbers to dial."""
    session_ = db.session()
    return render_template(
        "console/callbacks.html",
        tasks=store.open_callbacks(session_),
        closed=store.closed_callbacks(session_),
        outcomes=store.CALLBACK_OUTCOMES,
        max_attempts=store.MAX_CALLBACK_ATTEMPTS,
    )


@bp.post(f"/callbacks/{_TASK_ID}/claim")
@login_required(*CENTER)
def callback_claim(task_id: int) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session_ = db.session()
    try:
        store.claim_callback(session_, task_id, f"console:{user.username}")
        session_.commit()
        flash(f"#{task_id}: {t('claimed')} ✓", "ok")
    except store.CallbackError as exc:
        session_.rollback()
        flash(str(exc), "error")
    return redirect(url_for("console.callbacks_page"))


@bp.post(f"/callbacks/{_TASK_ID}/outcome")
@login_required(*CENTER)
def callback_outcome(task_id: int) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    outcome = request.form.get("outcome", "")
    note = request.form.get("note", "")[:400]
    session_ = db.session()
    try:
        task = store.record_callback(
            session_, task_id, outcome, who=f"console:{user.username}", note=note
        )
        session_.commit()
        flash(f"#{task.id}: {t('outcome.' + outcome)} ✓", "ok")
    except store.CallbackError as exc:
        session_.rollback()
        flash(str(exc), "error")
    return redirect(url_for("console.callbacks_page"))


# ------------------------------------------------------------------------------------ roster


@bp.get("/roster")
@login_required(*CENTER)
def roster_page() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    cache = current_app.extensions["hotline.roster"]
    roster = cache.get()
    now = utcnow()
    duty, gaps, text = [], [], ""
    if roster is not None:
        duty = [(team, on_duty(roster, code, now)) for code, team in roster.teams.items()]
        gaps = coverage_gaps(roster, now, now + dt.timedelta(days=7))
        text = yaml.safe_dump(roster_to_dict(roster), allow_unicode=True, sort_keys=False)
    return render_template(
        "console/roster.html",
        roster=roster,
        duty=duty,
        gaps=gaps,
        text=(session.pop("roster_draft", None) if request.args.get("draft") else None) or text,
        can_edit=user.role in ROSTER_EDITORS,
    )


@bp.post("/roster/available")
@login_required(*CENTER)
def roster_available() -> Any:
    officer = request.form.get("officer", "")[:32]
    available = request.form.get("available") == "1"
    session_ = db.session()
    if not store.set_available(session_, officer, available):
        abort(404, description=f"unknown officer {officer!r}")
    session_.commit()
    current_app.extensions["hotline.roster"].invalidate()
    flash(f"{officer}: {t('available') if available else t('unavailable')} ✓", "ok")
    return redirect(url_for("console.roster_page"))


@bp.post("/roster")
@login_required(*ROSTER_EDITORS)
def roster_save() -> Any:
    text = request.form.get("roster", "")
    session_ = db.session()
    try:
        raw = yaml.safe_load(text)
        roster = parse_roster(raw, settings().default_region)
        version = store.replace_roster(session_, roster, settings().timezone)
    except (RosterError, yaml.YAMLError) as exc:
        session_.rollback()
        session["roster_draft"] = text[:200_000]
        flash(f"{t('roster')}: {exc}", "error")
        return redirect(url_for("console.roster_page", draft=1))
    session_.commit()
    current_app.extensions["hotline.roster"].invalidate()
    flash(f"{t('roster')} v{version} ✓", "ok")
    return redirect(url_for("console.roster_page"))


# ----------------------------------------------------------------------------------- figures


def period() -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """The chosen local days (?from=YYYY-MM-DD&to=…; default the last 7 days) and their span."""
    tz = settings().tz
    today = dt.datetime.now(tz).date()
    first, last = today - dt.timedelta(days=6), today
    try:
        if request.args.get("from"):
            first = dt.date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            last = dt.date.fromisoformat(request.args["to"])
    except ValueError:
        abort(400, description="from and to are dates like 2026-11-25")
    if last < first or (last - first).days > 366 or first.year < 2000 or last.year > 2100:
        abort(400, description="the period must run forwards, within 2000–2100, for at most a year")
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    return first, last, start, end


def figures_for_request() -> tuple[figures.Figures, dt.date, dt.date]:
    """The figures of the period the request asks for (?from=…&to=…), and its local days."""
    first, last, start, end = period()
    result = figures.compute(
        db.session(),
        current_app.extensions["hotline.survey"],
        settings().tz,
        start,
        end,
        utcnow(),
    )
    return result, first, last


@bp.get("/figures")
@login_required(*CENTER)
def figures_page() -> Any:
    result, first, last = figures_for_request()
    named = [(_category_name(c), n) for c, n in result.cases_by_category]
    return render_template(
        "console/figures.html", f=result, first=first, last=last, named_categories=named
    )


@bp.get("/figures.csv")
@login_required(*CENTER)
def figures_csv() -> Response:
    result, first, last = figures_for_request()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["figure", "key", "value"])
    writer.writerows(result.csv_rows())
    return Response(
        "\ufeff" + buffer.getvalue(),  # a BOM, so that spreadsheet programs read UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=figures-{first}-{last}.csv"},
    )


def _bars(values: list[tuple[str, float]], width: int = 640) -> dict[str, Any]:
    """Bars for an inline SVG chart (no script, no library)."""
    top = max((v for _, v in values), default=0) or 1
    return {
        "rows": [(label, value, int(value / top * (width - 220))) for label, value in values],
        "height": 22 * len(values) + 4,
        "width": width,
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["bars"] = _bars
    app.jinja_env.filters["reject_page"] = lambda args: {
        k: v for k, v in args.items() if k != "page"
    }
    app.permanent_session_lifetime = auth.SESSION_LIFETIME
