"""The roster: who is on duty and the coverage gaps of the week, officers made (un)available,
and the roster's YAML edited by its editors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from console.auth import console_user, login_required
from console.display import officer_name
from console.i18n import t
from console.views.common import bp, flash_refusal
from core import db
from core.db import utcnow
from core.webhooks import settings
from routing import store
from routing.roster import RosterError, coverage_gaps, on_duty
from routing.rosterdump import roster_to_dict
from routing.rosterfile import parse_roster
from staff.service import CENTER, ROSTER_EDITORS


@bp.get("/roster")
@login_required(*CENTER)
def roster_page() -> Any:
    return _roster_page()


def _roster_page(draft: str | None = None, status: int = 200) -> tuple[str, int]:
    """The roster page; `draft` is an edit that failed to validate, shown again as typed (it
    travels in the response, never in the session cookie, whatever its size)."""
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
    page = render_template(
        "console/roster.html",
        roster=roster,
        duty=duty,
        gaps=gaps,
        text=draft if draft is not None else text,
        can_edit=user.role in ROSTER_EDITORS,
    )
    return page, status


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
    flash(f"{officer_name(officer)}: {t('available') if available else t('unavailable')} ✓", "ok")
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
        flash_refusal("refused.roster", exc)
        return _roster_page(draft=text, status=400)
    session_.commit()
    current_app.extensions["hotline.roster"].invalidate()
    flash(f"{t('roster')} · {t('saved_version').format(version=version)} ✓", "ok")
    return redirect(url_for("console.roster_page"))
