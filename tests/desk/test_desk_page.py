"""The call-taker's desk page: signing in with a desk phone, who waits, and the caller's
screen-pop while on a call (what they said at the front door, earlier calls, open cases)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs
from desk.models import CallTaker, TakerState
from staff.models import Role
from tests.support import TwilioSigner, call_params, gather_of, path_of, twiml
from tests.support.desk import DESK_PHONE, offer_leg
from tests.support.staff import add_user, csrf_of, login, open_case
from tests.support.surveys import Posted


def _taker(db_session: Session, username: str) -> CallTaker | None:
    db_session.expire_all()
    return db_session.scalar(select(CallTaker).where(CallTaker.username == username))


def test_a_call_taker_signs_in_takes_a_call_sees_the_caller_and_finishes_wrap_up(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    page = client.get("/console/desk").get_data(as_text=True)
    assert "您还没有签入接线台" in page

    token = csrf_of(client, "/console/desk")
    refused = client.post(
        "/console/desk/state", data={"state": "available", "csrf": token}, follow_redirects=True
    )
    assert "无法更改接线状态" in refused.get_data(as_text=True), "a desk phone is needed first"
    assert _taker(db_session, "li") is None
    signed = client.post(
        "/console/desk/state",
        data={"state": "available", "phone": DESK_PHONE, "csrf": token},
        follow_redirects=True,
    )
    assert 'data-state="available">可接听<' in signed.get_data(as_text=True)

    # A caller who has an open case asks for a person, in words.
    open_case(app, db_session)
    caller = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", caller))
    speech = {**caller, "SpeechResult": "我要转人工", "Confidence": "0.9"}
    root = twiml(twilio.post(path_of(gather_of(door).get("action") or ""), speech))
    assert root.find("Enqueue") is not None
    waiting = client.get("/console/desk").get_data(as_text=True)
    assert f'data-call="{caller["CallSid"]}"' in waiting

    # The offer rings li's phone; li takes it and is put through.
    jobs.run_due(app)
    leg = offer_leg(rest)
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    gather = gather_of(twiml(twilio.post(path_of(leg["Url"]), their_leg)))
    accepted = twiml(twilio.post(path_of(gather.get("action") or ""), {**their_leg, "Digits": "1"}))
    queue = accepted.find("Dial/Queue")
    assert queue is not None
    twiml(twilio.post(path_of(queue.get("url") or ""), caller))

    pop = client.get("/console/desk").get_data(as_text=True)
    assert 'data-state="on_call">通话中<' in pop
    assert "我要转人工" in pop, "what they said at the front door"
    assert "+8613800138000" in pop and "MS-" in pop, "their number and open case"

    twilio.post(path_of(leg["StatusCallback"]), {**their_leg, "CallStatus": "completed"})
    taker = _taker(db_session, "li")
    assert taker is not None and taker.state is TakerState.WRAP_UP
    page = client.get("/console/desk").get_data(as_text=True)
    assert "整理完毕，接听下一通" in page
    done = client.post(
        "/console/desk/state",
        data={"state": "available", "csrf": csrf_of(client, "/console/desk")},
        follow_redirects=True,
    )
    assert "可接听 ✓" in done.get_data(as_text=True)
    taker = _taker(db_session, "li")
    assert taker is not None and taker.state is TakerState.AVAILABLE
