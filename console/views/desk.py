"""The call-taker's desk: their state (available, break, signed out, wrap-up to finish), who is
waiting in the queue, the other call-takers, and — while they are on a call — the caller's
screen-pop: number, language, what they said at the front door and how it was classified, their
earlier calls and open cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from calls.models import Call
from cases.models import Case
from cases.workflow import OPEN_STATES
from console.auth import console_user, login_required
from console.i18n import t
from console.views.common import bp, flash_refusal
from core import db, handover
from core.db import utcnow
from desk import service
from desk.models import QueueEntry, QueueResult, TakerState
from staff.service import CENTER

#: The states a call-taker sets for themselves (on a call and wrap-up follow from the calls).
CHOSEN = (TakerState.AVAILABLE, TakerState.BREAK, TakerState.LOGGED_OUT)


@bp.get("/desk")
@login_required(*CENTER)
def desk_page() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    me = service.taker(session, user.username)
    now = utcnow()
    waiting = session.scalars(
        select(QueueEntry)
        .where(QueueEntry.result == QueueResult.WAITING)
        .order_by(QueueEntry.queue.desc(), QueueEntry.enqueued_at)
    ).all()
    return render_template(
        "console/desk.html",
        me=me,
        takers=service.takers(session),
        waiting=[(e, int((now - e.enqueued_at).total_seconds())) for e in waiting],
        pop=_screen_pop(session, me.caller_sid) if me and me.state is TakerState.ON_CALL else None,
        chosen=CHOSEN,
    )


def _screen_pop(session: Any, call_sid: str | None) -> dict[str, Any] | None:
    """What the call-taker sees of the caller they are talking to."""
    if not call_sid:
        return None
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    entry = service.entry(session, call_sid)
    number = call.from_number if call else None
    since = utcnow() - dt.timedelta(days=90)
    earlier = 0
    open_cases: list[Case] = []
    if number:
        earlier = (
            session.scalar(
                select(func.count())
                .select_from(Call)
                .where(
                    Call.from_number == number,
                    Call.call_sid != call_sid,
                    Call.created_at >= since,
                )
            )
            or 0
        )
        open_cases = list(
            session.scalars(
                select(Case)
                .where(Case.caller_number == number, Case.state.in_(OPEN_STATES))
                .order_by(Case.created_at.desc())
                .limit(10)
            )
        )
    return {
        "call_sid": call_sid,
        "number": number or (call.from_raw if call else None),
        "language": entry.language if entry else (call.language if call else None),
        "urgent": entry is not None and entry.queue == service.URGENT_QUEUE,
        "heard": handover.heard(session, call_sid),
        "earlier": earlier,
        "open_cases": open_cases,
    }


@bp.post("/desk/state")
@login_required(*CENTER)
def desk_state() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    wanted = request.form.get("state", "")
    phone = request.form.get("phone", "").strip()[:255] or None
    try:
        me = service.taker(session, user.username)
        if wanted == "available" and me is not None and me.state is TakerState.WRAP_UP:
            service.finish_wrap_up(session, user.username)
        elif wanted in {s.value for s in CHOSEN}:
            service.set_state(session, user.username, wanted, phone=phone)
        else:
            raise service.DeskError(f"state: one of {', '.join(s.value for s in CHOSEN)}")
        session.commit()
        flash(f"{t('desk_state.' + wanted)} ✓", "ok")
    except service.DeskError as exc:
        session.rollback()
        flash_refusal("refused.desk", exc)
    return redirect(url_for("console.desk_page"))
