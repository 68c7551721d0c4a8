"""The call-taker's desk: their state (available, break, signed out, wrap-up to finish), who is
waiting in the queue, the other call-takers, and — while they are on a call — the caller's
screen-pop: number, language, what they said at the front door and how it was classified, their
earlier calls and open cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioRestException

from calls.models import Call
from cases import service as cases
from cases.intake import after_intake
from cases.models import Case, CaseSource
from cases.workflow import OPEN_STATES, Action, CaseError
from console.auth import console_user, login_required
from console.i18n import t
from console.views.common import bp, flash_refusal
from core import db, handover, twilio_rest
from core.calendar import stored_holidays
from core.categories import CATEGORIES
from core.db import utcnow
from core.webhooks import settings
from desk import service, tokens
from desk.models import CallTaker, QueueEntry, TakerState
from routing import callbacks
from staff.service import CENTER
from surveys.service import opted_out

#: The states a call-taker sets for themselves (on a call and wrap-up follow from the calls).
CHOSEN = (TakerState.AVAILABLE, TakerState.BREAK, TakerState.LOGGED_OUT)
#: The desk page talks to Twilio when the browser softphone is on: its signalling (wss) and
#: events (https) at twilio.com, its ring tones from Twilio's media host.
DESK_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' https://*.twilio.com wss://*.twilio.com; "
    "media-src 'self' blob: https://*.twilio.com https://media.twiliocdn.com; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
#: The states in which the caller's screen-pop (and the case form) is shown.
TALKING = (TakerState.ON_CALL, TakerState.WRAP_UP)


@bp.get("/desk")
@login_required(*CENTER)
def desk_page() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    me = service.taker(session, user.username)
    now = utcnow()
    waiting = _waiting(session)
    page = render_template(
        "console/desk.html",
        me=me,
        takers=service.takers(session),
        waiting=[(e, int((now - e.enqueued_at).total_seconds())) for e in waiting],
        pop=_screen_pop(session, me.caller_sid)
        if me and me.state is not TakerState.LOGGED_OUT
        else None,
        chosen=CHOSEN,
        services=CATEGORIES.service,
        emergencies=CATEGORIES.emergency,
        to_call_back=callbacks.open_callbacks(session, limit=5),
        browser_phone=tokens.configured(settings()),
        client_phone=f"client:{tokens.identity_of(user.username)}",
    )
    response = make_response(page)
    response.headers["Content-Security-Policy"] = DESK_CSP
    return response


@bp.get("/desk.json")
@login_required(*CENTER)
def desk_json() -> Any:
    """What the desk page refreshes every few seconds: the user's state and caller (the page
    reloads when they change), who waits, and the call-takers."""
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    me = service.taker(session, user.username)
    now = utcnow()
    waiting = _waiting(session)
    return jsonify(
        state=me.state.value if me else None,
        caller=me.caller_sid if me and me.state in TALKING else None,
        waiting=[
            {
                "call": e.call_sid,
                "urgent": e.queue == service.URGENT_QUEUE,
                "queue": t(f"queue.{e.queue}"),
                "caller": e.caller_number or "",
                "waited_s": int((now - e.enqueued_at).total_seconds()),
            }
            for e in waiting
        ],
        takers=[
            {"username": k.username, "state": t(f"desk_state.{k.state.value}"), "missed": k.missed}
            for k in service.takers(session)
        ],
    )


@bp.get("/desk/token")
@login_required(*CENTER)
def desk_token() -> Any:
    """An access token for this call-taker's browser softphone (JSON), or 503 with the reason
    when the softphone is not configured."""
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    try:
        token = tokens.access_token(settings(), user.username)
    except tokens.NotConfigured as exc:
        return jsonify(error="Service Unavailable", reason=str(exc)), 503
    return jsonify(token=token, identity=tokens.identity_of(user.username), ttl_s=tokens.TTL_S)


def _waiting(session: Any) -> list[QueueEntry]:
    """Who waits for a call-taker now, the urgent queue first, then by arrival."""
    return list(
        session.scalars(
            select(QueueEntry)
            .where(service.STILL_WAITING)
            .order_by(QueueEntry.queue.desc(), QueueEntry.enqueued_at)
        )
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
    made = session.scalar(select(Case).where(Case.call_sid == call_sid))
    confidential = bool(number) and bool(
        session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.caller_number == number, Case.confidential.is_(True))
        )
    )
    return {
        "case": made,
        "opted_out": bool(number) and opted_out(session, number or ""),
        "confidential": confidential,
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


def _my_caller() -> tuple[CallTaker, Call]:
    """The signed-in call-taker and the caller they took last (their call, or a 409)."""
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    session = db.session()
    me = service.taker(session, user.username)
    sid = request.form.get("call", "")[:34]
    if me is None or not sid or me.caller_sid != sid:
        abort(409, description="not the caller you are (or were last) put through to")
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    if call is None:
        abort(409, description=f"no call {sid}")
    return me, call


@bp.post("/desk/case")
@login_required(*CENTER)
def desk_case() -> Any:
    """A case from the call the call-taker is on: dispatched to its unit by category (转办), or
    handled on the spot (即办) with what was done as the note — resolved at intake, so the
    callback survey follows as for any other case."""
    me, call = _my_caller()
    session = db.session()
    category = request.form.get("category", "")
    on_spot = request.form.get("mode") == "on_spot"
    transcript = request.form.get("transcript", "").strip()[:4000]
    note = request.form.get("note", "").strip()[:2000]
    actor = f"console:{me.username}"
    try:
        if category not in CATEGORIES.service:
            raise CaseError(f"category: one of {', '.join(CATEGORIES.service)}")
        if on_spot and not note:
            raise cases.NoteRequired("handle on the spot: say what was done (the note)")
        entry = service.entry(session, call.call_sid)
        language = entry.language if entry else (call.language or "zh")
        case = cases.create_case(
            session,
            call_sid=call.call_sid,
            category=category,
            language=language,
            caller_number=call.from_number,
            caller_raw=call.from_raw or "",
            transcript=transcript,
            source=CaseSource.PHONE,
            tz=settings().tz,
            holidays=stored_holidays(session),
            actor=actor,
        )
        if on_spot:
            cases.apply(session, case.number, Action.HANDLE_ON_SPOT, actor=actor, note=note)
            cases.apply(session, case.number, Action.RESOLVE, actor=actor, note=note)
        else:
            after_intake(session, case, language)
        session.commit()
    except CaseError as exc:
        session.rollback()
        flash_refusal("refused.case", exc)
        return redirect(url_for("console.desk_page"))
    flash(f"{case.number}: {t('desk_case.' + ('on_spot' if on_spot else 'dispatch'))} ✓", "ok")
    return redirect(url_for("console.desk_page"))


@bp.post("/desk/transfer")
@login_required(*CENTER)
def desk_transfer() -> Any:
    """Put the caller through to an emergency route at once (the officers on duty ring, as if
    they had pressed 1): Twilio is asked to move the caller's call to that bridge."""
    _me, call = _my_caller()
    route = request.form.get("route", "")
    if route not in CATEGORIES.emergency:
        abort(400, description=f"route: one of {', '.join(CATEGORIES.emergency)}")
    try:
        twilio_rest.client(settings()).calls(call.call_sid).update(
            url=settings().public_url(f"/voice/desk/transfer?route={route}"), method="POST"
        )
    except (TwilioRestException, twilio_rest.TwilioNotConfigured, OSError) as exc:
        flash_refusal("refused.transfer", exc)
        return redirect(url_for("console.desk_page"))
    flash(f"{t('transferred')} ✓", "ok")
    return redirect(url_for("console.desk_page"))
