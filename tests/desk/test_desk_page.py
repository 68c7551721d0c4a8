"""The call-taker's desk page: signing in with a desk phone, who waits, and the caller's
screen-pop while on a call (what they said at the front door, earlier calls, open cases)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from cases.models import Case
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs
from desk.models import CallTaker, TakerState
from staff.models import Role
from surveys.service import opt_out
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
    signed = _sign_in(client)
    assert 'data-state="available">可接听<' in signed.get_data(as_text=True)

    # A caller who has an open case (and a confidential one) and wants no surveys asks for a
    # person, in words.
    open_case(app, db_session)
    open_case(app, db_session, confidential=True)
    opt_out(db_session, "+8613800138000", "test")
    db_session.commit()
    caller, root = _ask_for_a_person(twilio, settings)
    assert root.find("Enqueue") is not None
    waiting = client.get("/console/desk").get_data(as_text=True)
    assert f'data-call="{caller["CallSid"]}"' in waiting

    # The offer rings li's phone; li takes it and is put through.
    their_leg, leg = _take(app, twilio, settings, rest, caller)

    pop = client.get("/console/desk").get_data(as_text=True)
    assert 'data-state="on_call">通话中<' in pop
    assert f'data-call="{caller["CallSid"]}"' not in pop, "no longer waiting"
    assert "我要转人工" in pop, "what they said at the front door"
    assert "+8613800138000" in pop and "MS-" in pop, "their number and open case"
    assert "有保密工单，勿向承办单位透露身份" in pop and "不接受回访" in pop
    assert "<dd>普通话</dd>" in pop, "the language they were served in"

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


def _sign_in(client: FlaskClient) -> TestResponse:
    """The signed-in user takes calls at DESK_PHONE (the page it lands on)."""
    return client.post(
        "/console/desk/state",
        data={"state": "available", "phone": DESK_PHONE, "csrf": csrf_of(client, "/console/desk")},
        follow_redirects=True,
    )


def _ask_for_a_person(
    twilio: TwilioSigner, settings: Settings, said: str = "我要转人工"
) -> tuple[dict[str, str], ET.Element]:
    """A caller who says `said` at the front door: their params, and the TwiML they get."""
    caller = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", caller))
    speech = {**caller, "SpeechResult": said, "Confidence": "0.9"}
    return caller, twiml(twilio.post(path_of(gather_of(door).get("action") or ""), speech))


def _take(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    rest: list[Posted],
    caller: dict[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """The offer rings the call-taker's phone, they press 1 and are put through to `caller`:
    (the call-taker's leg params, the offer's REST form)."""
    jobs.run_due(app)
    leg = offer_leg(rest)
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    gather = gather_of(twiml(twilio.post(path_of(leg["Url"]), their_leg)))
    accepted = twiml(twilio.post(path_of(gather.get("action") or ""), {**their_leg, "Digits": "1"}))
    queue = accepted.find("Dial/Queue")
    assert queue is not None
    twiml(twilio.post(path_of(queue.get("url") or ""), caller))
    return their_leg, leg


def _put_through(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
    said: str = "我要转人工",
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A dispatcher signed in at the desk is put through to a caller who asked for a person:
    (the caller's params, the call-taker's leg params, the offer's REST form)."""
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    _sign_in(client)
    caller, _answer = _ask_for_a_person(twilio, settings, said)
    their_leg, leg = _take(app, twilio, settings, rest, caller)
    return caller, their_leg, leg


def _case_of(db_session: Session, caller: dict[str, str]) -> Case | None:
    db_session.expire_all()
    return db_session.scalar(select(Case).where(Case.call_sid == caller["CallSid"]))


def test_a_case_from_the_call_is_prefilled_linked_and_dispatched(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    caller, _leg, _offer = _put_through(app, client, twilio, settings, db_session, rest)
    page = client.get("/console/desk").get_data(as_text=True)
    assert '<form method="post" action="/console/desk/case"' in page
    assert ">我要转人工</textarea>" in page, "what they said, ready to correct"
    made = client.post(
        "/console/desk/case",
        data={
            "call": caller["CallSid"],
            "category": "city_management",
            "transcript": "中山路路灯不亮",
            "mode": "dispatch",
            "csrf": csrf_of(client, "/console/desk"),
        },
        follow_redirects=True,
    )
    case = _case_of(db_session, caller)
    assert case is not None, made.get_data(as_text=True)
    assert (case.state, case.unit_code) == (CaseState.DISPATCHED, "city_management")
    assert case.transcript == "中山路路灯不亮" and case.caller_number == "+8613800138000"
    assert f"{case.number}: 已建工单并派单 ✓" in made.get_data(as_text=True)
    assert 'id="case-made"' in made.get_data(as_text=True), "the form gives way to the case"


def test_handled_on_the_spot_is_resolved_at_intake_with_what_was_done(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    caller, _leg, _offer = _put_through(app, client, twilio, settings, db_session, rest)
    token = csrf_of(client, "/console/desk")
    form = {"call": caller["CallSid"], "category": "consultation", "mode": "on_spot", "csrf": token}
    refused = client.post("/console/desk/case", data=form, follow_redirects=True)
    assert "无法办理此操作" in refused.get_data(as_text=True), "a note is needed"
    assert _case_of(db_session, caller) is None, "nothing half-written"
    done = client.post(
        "/console/desk/case",
        data={**form, "note": "已告知办理社保卡所需材料", "csrf": csrf_of(client, "/console/desk")},
        follow_redirects=True,
    )
    case = _case_of(db_session, caller)
    assert case is not None, done.get_data(as_text=True)
    assert case.state is CaseState.RESOLVED and case.feedback == "已告知办理社保卡所需材料"


def test_another_callers_call_cannot_be_taken_over(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    _put_through(app, client, twilio, settings, db_session, rest)
    other = call_params(settings)
    twilio.post("/voice/incoming", other)
    response = client.post(
        "/console/desk/case",
        data={
            "call": other["CallSid"],
            "category": "city_management",
            "mode": "dispatch",
            "csrf": csrf_of(client, "/console/desk"),
        },
    )
    assert response.status_code == 409
    assert _case_of(db_session, other) is None


def test_a_call_taker_transfers_the_caller_to_an_emergency_route(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    caller, _leg, _offer = _put_through(app, client, twilio, settings, db_session, rest)
    moved = client.post(
        "/console/desk/transfer",
        data={"call": caller["CallSid"], "route": "fire", "csrf": csrf_of(client, "/console/desk")},
        follow_redirects=True,
    )
    assert "已转接紧急线路 ✓" in moved.get_data(as_text=True)
    update = [p for p in rest if p.url.endswith(f"/Calls/{caller['CallSid']}.json")]
    assert update, "Twilio is asked to move the caller's call"
    url = update[-1].data["Url"][0]
    assert path_of(url) == "/voice/desk/transfer?route=fire"
    bridged = twiml(twilio.post(path_of(url), caller))
    assert bridged.find("Dial") is not None, "the fire brigade's officers ring"


def test_the_desk_data_refreshes_in_the_pages_language(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    client.get("/console/desk?lang=en")
    client.post(
        "/console/desk/state",
        data={"state": "available", "phone": DESK_PHONE, "csrf": csrf_of(client, "/console/desk")},
    )
    caller = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", caller))
    twiml(twilio.post(path_of(gather_of(door).get("action") or ""), {**caller, "Digits": "0"}))
    data = client.get("/console/desk.json").get_json()
    assert (data["state"], data["caller"]) == ("available", None)
    (waiting,) = data["waiting"]
    assert (waiting["call"], waiting["queue"], waiting["urgent"]) == (
        caller["CallSid"],
        "Desk",
        False,
    )
    assert data["takers"] == [{"username": "li", "state": "Available", "missed": 0}]
