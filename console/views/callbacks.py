"""Call-backs: callers to call back (abandoned emergencies first), claimed and closed by staff."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from twilio.base.exceptions import TwilioRestException

from console.auth import console_user, login_required
from console.i18n import t
from console.views.common import bp, flash_refusal
from core import db, twilio_rest
from core.db import utcnow
from core.webhooks import settings
from desk import service as desk
from desk.models import TakerState
from routing import callbacks
from staff.service import CENTER

#: A task id in a URL: anything larger cannot be a row (and would overflow BIGINT).
_TASK_ID = "<int(max=9223372036854775807):task_id>"


@bp.get("/callbacks")
@login_required(*CENTER)
def callbacks_page() -> Any:
    """Callers to call back: open tasks by priority then age, with full numbers to dial."""
    session_ = db.session()
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    me = desk.taker(session_, user.username)
    return render_template(
        "console/callbacks.html",
        at_desk=me is not None and me.state is not TakerState.LOGGED_OUT,
        tasks=callbacks.open_callbacks(session_),
        closed=callbacks.closed_callbacks(session_),
        outcomes=callbacks.CALLBACK_OUTCOMES,
        max_attempts=callbacks.MAX_CALLBACK_ATTEMPTS,
    )


@bp.post(f"/callbacks/{_TASK_ID}/claim")
@login_required(*CENTER)
def callback_claim(task_id: int) -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session_ = db.session()
    try:
        callbacks.claim_callback(session_, task_id, f"console:{user.username}")
        session_.commit()
        flash(f"#{task_id}: {t('claimed')} ✓", "ok")
    except callbacks.CallbackError as exc:
        session_.rollback()
        flash_refusal("refused.callback", exc)
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
        task = callbacks.record_callback(
            session_, task_id, outcome, who=f"console:{user.username}", note=note
        )
        session_.commit()
        flash(f"#{task.id}: {t('outcome.' + outcome)} ✓", "ok")
    except callbacks.CallbackError as exc:
        session_.rollback()
        flash_refusal("refused.callback", exc)
    return redirect(url_for("console.callbacks_page"))


@bp.post(f"/callbacks/{_TASK_ID}/dial")
@login_required(*CENTER)
def callback_dial(task_id: int) -> Any:
    """Call the caller back in one click: the user's desk phone rings, then the caller's."""
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session_ = db.session()
    try:
        desk.dial_callback(session_, settings(), task_id, user.username, utcnow())
        flash(f"#{task_id}: {t('dialling')} ✓", "ok")
    except desk.DeskError as exc:
        session_.rollback()
        flash_refusal("refused.not_at_desk", exc)
    except callbacks.CallbackError as exc:
        session_.rollback()
        flash_refusal("refused.callback", exc)
    except (TwilioRestException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        flash_refusal("refused.dial", exc)
    return redirect(url_for("console.callbacks_page"))
