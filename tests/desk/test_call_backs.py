"""Every missed call called back: a caller who kept their place is dialled when nobody waits
(virtual hold, in queue order), and any open call-back is one click away on the call-backs
page; either way the call-taker's phone rings first, they take it with a key, Twilio dials the
caller showing the hotline's number, and how it ended is recorded on the task."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs
from desk.models import CallTaker, TakerState
from routing import callbacks
from routing.models import CallbackTask
from staff.models import Role
from tests.support import TwilioSigner, call_params, gather_of, path_of, twiml
from tests.support.desk import (
    DESK_PHONE,
    heard,
    leave_queue,
    offer_leg,
    queue_a_caller,
    sign_in,
    task_of,
    wait,
)
from tests.support.staff import add_user, csrf_of, login
from tests.support.surveys import Posted


def _kept_their_place(twilio: TwilioSigner, settings: Settings, from_number: str) -> dict[str, str]:
    """A caller waits long enough, presses 1 for a call-back and leaves the queue."""
    caller, root = queue_a_caller(twilio, settings, From=from_number)
    gather = gather_of(wait(twilio, caller, root, QueuePosition="1", QueueTime="70"))
    twiml(twilio.post(path_of(gather.get("action") or ""), {**caller, "Digits": "1"}))
    leave_queue(twilio, caller, root, "leave", "71")
    return caller


def _take_it(twilio: TwilioSigner, settings: Settings, leg: dict[str, str]) -> ET.Element:
    """The call-taker's phone answers the call-back, they press a key: what Twilio runs."""
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    gather = gather_of(twiml(twilio.post(path_of(leg["Url"]), their_leg)))
    assert "按任意键回拨来电人" in heard(gather)
    return twiml(twilio.post(path_of(gather.get("action") or ""), {**their_leg, "Digits": "1"}))


def test_a_kept_place_is_called_back_when_nobody_waits_and_the_outcome_is_recorded(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    sign_in(db_session, "desk1")
    db_session.query(CallTaker).update({"state": TakerState.BREAK})  # nobody free while they wait
    db_session.commit()
    first = _kept_their_place(twilio, settings, "+8613800138011")
    _kept_their_place(twilio, settings, "+8613800138012")
    sign_in(db_session, "desk1")  # back from the break: the offer looks for work

    jobs.run_due(app)
    leg = offer_leg(rest)
    query = parse_qs(urlsplit(leg["Url"]).query)
    task = task_of(db_session, first)
    assert task is not None and query["task"] == [str(task.id)], "the first in queue order"
    dialled = _take_it(twilio, settings, leg)
    assert "正在为您接通来电人" in heard(dialled)
    dial = dialled.find("Dial")
    assert dial is not None and dial.get("callerId") == settings.hotline_number
    number = dialled.find("Dial/Number")
    assert number is not None and (number.text or "").strip() == "+8613800138011"

    done = twiml(
        twilio.post(path_of(dial.get("action") or ""), {**first, "DialCallStatus": "completed"})
    )
    assert done.find("Hangup") is not None
    task = task_of(db_session, first)
    assert task is not None and (task.outcome, task.claimed_by) == ("reached", "console:desk1")
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    twilio.post(path_of(leg["StatusCallback"]), {**their_leg, "CallStatus": "completed"})
    db_session.expire_all()
    taker = db_session.query(CallTaker).one()
    assert taker.state is TakerState.AVAILABLE


def test_one_click_calls_back_from_the_call_backs_page(
    app: Flask,
    client: FlaskClient,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    callbacks.open_callback(
        db_session,
        {
            "call_sid": "CA" + "3" * 32,
            "kind": "abandoned_bridge",
            "priority": 0,
            "caller_number": "+8613800138013",
            "route": "fire",
            "language": "zh",
            "at": "2026-12-01T10:00:00+00:00",
        },
    )
    add_user(db_session, "li", Role.DISPATCHER)
    db_session.commit()
    login(client, "li")
    page = client.get("/console/callbacks").get_data(as_text=True)
    assert "一键回拨" not in page, "only for a call-taker signed in at the desk"
    sign_in(db_session, "li")
    page = client.get("/console/callbacks").get_data(as_text=True)
    assert "一键回拨" in page
    desk_page = client.get("/console/desk").get_data(as_text=True)
    card = desk_page[desk_page.index('id="desk-callbacks"') :]
    assert "+8613800138013" in card and "一键回拨" in card, "on the desk page too"
    task = db_session.query(CallbackTask).one()
    answer = client.post(
        f"/console/callbacks/{task.id}/dial",
        data={"csrf": csrf_of(client, "/console/callbacks")},
        follow_redirects=True,
    )
    assert "正在呼叫您的接听电话" in answer.get_data(as_text=True)
    leg = offer_leg(rest)
    assert leg["To"] == DESK_PHONE
    dialled = _take_it(twilio, settings, leg)
    dial = dialled.find("Dial")
    assert dial is not None
    caller = call_params(settings, From="+8613800138013")
    twilio.post(path_of(dial.get("action") or ""), {**caller, "DialCallStatus": "no-answer"})
    db_session.expire_all()
    after = db_session.get(CallbackTask, task.id)
    assert after is not None and after.closed_at is None and after.attempts == 1, "kept open"


def test_a_call_back_cannot_be_dialled_off_the_desk_or_to_a_withheld_number(
    client: FlaskClient, db_session: Session, rest: list[Posted]
) -> None:
    callbacks.open_callback(
        db_session,
        {
            "call_sid": "CA" + "4" * 32,
            "kind": "abandoned_ivr",
            "priority": 2,
            "caller_number": "+8613800138014",
            "language": "zh",
            "at": "2026-12-01T10:00:00+00:00",
        },
    )
    add_user(db_session, "li", Role.DISPATCHER)
    db_session.commit()
    login(client, "li")
    task = db_session.query(CallbackTask).one()
    refused = client.post(
        f"/console/callbacks/{task.id}/dial",
        data={"csrf": csrf_of(client, "/console/callbacks")},
        follow_redirects=True,
    )
    assert "请先在接线台签入" in refused.get_data(as_text=True)
    assert rest == [], "nothing dialled"
