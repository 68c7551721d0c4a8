"""The live board: danger first (open alerts, emergencies nobody answered or whose caller hung
up, urgent call-backs), then calls in progress with where each caller is, then the last hour —
refreshed by the page's script, every word in the page's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, url_for
from sqlalchemy import select

from calls.models import Call
from console import board
from console.auth import console_user, login_required
from console.display import (
    branch_name,
    classification,
    local,
    officer_name,
    route_name,
    urgent_callbacks,
)
from console.i18n import t
from console.views.common import bp
from core import alerts, db
from core.db import utcnow
from routing.models import CallbackTask
from staff.service import CENTER


@bp.get("/board")
@login_required(*CENTER)
def live() -> Any:
    return render_template("console/board.html")


@bp.get("/board.json")
@login_required(*CENTER)
def board_json() -> Any:
    now = utcnow()
    session = db.session()
    rows = board.recent_calls(session, now, since=now - dt.timedelta(hours=1))
    live_rows = [r for r in rows if r.live]
    # Danger first: a live emergency before a live service call, a missed emergency before
    # every other call of the hour (each group newest first, as the query gives them).
    live_rows.sort(key=lambda r: r.branch not in board.BRIDGED_BRANCHES or r.branch == "desk")
    recent = sorted((r for r in rows if not r.live), key=lambda r: not r.danger)
    return jsonify(
        now=local(now, "%H:%M:%S"),
        danger=_danger(session),
        live=[_board_row(r) for r in live_rows],
        recent=[_board_row(r) for r in recent],
        urgent_callbacks=urgent_callbacks(),
    )


@bp.post("/alerts/<int(max=9223372036854775807):alert_id>/acknowledge")
@login_required(*CENTER)
def alert_acknowledge(alert_id: int) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    if not alerts.acknowledge(session, alert_id, user.username, utcnow()):
        abort(404, description=f"no open alert {alert_id}")
    session.commit()
    flash(t("acknowledged") + " ✓", "ok")
    return redirect(url_for("console.live"))


def _danger(session: Any) -> list[dict[str, Any]]:
    """The open alerts, most urgent first, each as a line in the page's language with what it
    is about (a case, a caller) and what to do (acknowledge; call back)."""
    found = alerts.open_alerts(session)
    sids = [a.call_sid for a in found if a.call_sid]
    callers = dict(
        session.execute(
            select(Call.call_sid, Call.from_number).where(Call.call_sid.in_(sids))
        ).all()
    )
    tasks = dict(
        session.execute(
            select(CallbackTask.call_sid, CallbackTask.route).where(
                CallbackTask.call_sid.in_(sids), CallbackTask.closed_at.is_(None)
            )
        ).all()
    )
    entries = []
    for alert in found:
        kind, _, case_number = alert.kind.partition(":")
        key = f"alert.{kind}"
        entry: dict[str, Any] = {
            "id": alert.id,
            "priority": alert.priority,
            "text": t(key) if t(key) != key else t("alert.other"),
            "when": local(alert.created_at, "%H:%M:%S"),
            "case": case_number or None,
            "case_url": url_for("console.case_page", number=case_number) if case_number else None,
            "caller": None,
            "route": None,
            "call_back_url": None,
            "acknowledge_url": url_for("console.alert_acknowledge", alert_id=alert.id),
        }
        if alert.call_sid:
            number = callers.get(alert.call_sid)
            entry["caller"] = number or t("withheld")
            if alert.call_sid in tasks:
                entry["route"] = route_name(tasks[alert.call_sid])
                entry["call_back_url"] = url_for("console.callbacks_page")
        entries.append(entry)
    return entries


def _board_row(row: board.CallRow) -> dict[str, Any]:
    answered = row.answered_by or row.answered_phone
    return {
        "sid": row.call_sid,
        "caller": row.caller if row.caller != "anonymous" else t("withheld"),
        "stage": row.stage,
        "stage_label": t(f"stage.{row.stage}"),
        "danger": row.danger,
        "started": local(row.started_at, "%H:%M:%S"),
        "duration": row.duration_s,
        "branch": branch_name(row.branch),
        "classification": classification(row.kind, row.category, row.branch),
        "route": route_name(row.route) if row.route else None,
        "answered_by": officer_name(row.answered_by) if row.answered_by else (answered or "-"),
    }
