"""The desk queue end to end, through signed webhooks as Twilio sends them and Twilio's REST API
(Prism): a caller who asks for a person waits, hears their place and the recent wait, is offered
a call-back, is put through to the longest-idle call-taker, and nobody who gives up is lost.
Every TwiML answer is checked against Twilio's definitions (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs
from core.db import utcnow
from desk import service
from desk.models import CallTaker, QueueResult, TakerState
from routing.models import CallbackKind
from tests.support import TwilioSigner, call_params, gather_of, path_of, twiml
from tests.support.desk import (
    DESK_PHONE,
    OTHER_PHONE,
    enqueued,
    entry_of,
    heard,
    leave_queue,
    offer_leg,
    queue_a_caller,
    sign_in,
    task_of,
    wait,
)
from tests.support.surveys import Posted


def test_without_a_call_taker_signed_in_the_desk_rings_as_before(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    _, root = queue_a_caller(twilio, settings)
    assert root.find("Enqueue") is None
    assert root.find("Dial") is not None, "the desk's roster route rings"


def test_a_caller_waits_hearing_their_place_and_the_recent_wait(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sign_in(db_session, "desk1")
    caller, root = queue_a_caller(twilio, settings)
    element = enqueued(root)
    assert (element.text or "").strip() == "desk"
    assert element.get("waitUrlMethod") == "POST" and element.get("method") == "POST"
    assert entry_of(db_session, caller).result is QueueResult.WAITING

    third = wait(twilio, caller, root, QueuePosition="3", QueueTime="5", AvgQueueTime="130")
    assert "您前面还有2位来电" in heard(third)
    assert "近期平均等待约2分钟" in heard(third)
    assert third.find("Gather") is None, "no call-back offer before DESK_CALLBACK_OFFER_S"
    play = third.find("Play")
    assert play is not None and (play.text or "").endswith("/desk-audio/hold.wav")
    nxt = wait(twilio, caller, root, QueuePosition="1", QueueTime="20", AvgQueueTime="10")
    assert heard(nxt).startswith("您是下一位"), "the place changes as the queue moves"
    assert "平均等待" not in heard(nxt), "no average worth saying under a minute"


def test_the_hold_audio_is_served_to_twilio(twilio: TwilioSigner) -> None:
    response = twilio.client.get("/desk-audio/hold.wav")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert response.get_data()[:4] == b"RIFF"
    response.close()


def test_a_caller_who_waited_long_enough_keeps_their_place_and_is_called_back_in_order(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sign_in(db_session, "desk1")
    first, first_root = queue_a_caller(twilio, settings)
    second, second_root = queue_a_caller(twilio, settings, From="+8613800138002")
    offered = wait(twilio, second, second_root, QueuePosition="2", QueueTime="75")
    gather = gather_of(offered)
    assert "不想等待请按1" in heard(gather) and "紧急情况请挂断后直接拨打110" in heard(gather)
    pressed = twiml(twilio.post(path_of(gather.get("action") or ""), {**second, "Digits": "1"}))
    assert pressed.find("Leave") is not None
    bye = leave_queue(twilio, second, second_root, "leave", "80")
    assert "已为您保留排队位置" in heard(bye) and bye.find("Hangup") is not None

    wait(twilio, first, first_root, QueuePosition="1", QueueTime="90")  # offered too
    gather = gather_of(wait(twilio, first, first_root, QueuePosition="1", QueueTime="95"))
    twiml(twilio.post(path_of(gather.get("action") or ""), {**first, "Digits": "1"}))
    leave_queue(twilio, first, first_root, "leave", "96")

    tasks = [task_of(db_session, c) for c in (first, second)]
    assert all(t is not None and t.kind is CallbackKind.QUEUE_CALLBACK for t in tasks)
    assert tasks[0].created_at < tasks[1].created_at, "in queue order, not the order they left"  # type: ignore[union-attr]
    assert entry_of(db_session, second).result is QueueResult.CALLBACK


def test_another_key_keeps_the_caller_waiting(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sign_in(db_session, "desk1")
    caller, root = queue_a_caller(twilio, settings)
    gather = gather_of(wait(twilio, caller, root, QueuePosition="1", QueueTime="61"))
    answer = twiml(twilio.post(path_of(gather.get("action") or ""), {**caller, "Digits": "5"}))
    assert list(answer) == [], "an empty document: Twilio asks the waitUrl again"
    assert entry_of(db_session, caller).callback_asked_at is None


def test_a_caller_who_hangs_up_in_the_queue_gets_a_call_back_task(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sign_in(db_session, "desk1")
    caller, root = queue_a_caller(twilio, settings)
    leave_queue(twilio, caller, root, "hangup", "42")
    found = entry_of(db_session, caller)
    assert (found.result, found.wait_s) == (QueueResult.HANGUP, 42)
    task = task_of(db_session, caller)
    assert task is not None and (task.kind, task.priority) == (CallbackKind.ABANDONED_QUEUE, 1)
    assert task.caller_number == "+8613800138000"


def test_a_queue_error_puts_the_caller_through_to_the_desk_directly(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sign_in(db_session, "desk1")
    caller, root = queue_a_caller(twilio, settings)
    redirect = leave_queue(twilio, caller, root, "queue-full", "0").find("Redirect")
    assert redirect is not None
    direct = twiml(twilio.post(path_of(redirect.text or ""), caller))
    assert direct.find("Dial") is not None, "nobody is lost"
    assert entry_of(db_session, caller).result is QueueResult.FAILED


def test_the_longest_waiting_caller_goes_to_the_longest_idle_call_taker(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    idle = sign_in(db_session, "idle", idle_for=dt.timedelta(minutes=10))
    sign_in(db_session, "fresh", OTHER_PHONE)
    caller, _root = queue_a_caller(twilio, settings)

    assert jobs.run_due(app).get("done", 0) >= 1
    leg = offer_leg(rest)
    assert leg["To"] == DESK_PHONE, "the longest idle is offered first"
    assert leg["Timeout"] == str(settings.desk_ring_s)
    url = urlsplit(leg["Url"])
    assert url.path == "/voice/desk/taker"
    query = parse_qs(url.query)
    assert query["queue"] == ["desk"]
    db_session.expire_all()
    taker = db_session.get(CallTaker, idle.id)
    assert taker is not None and taker.state is TakerState.ON_CALL

    # The call-taker answers, hears what waits, presses a key, and is put through.
    their_leg = call_params(
        settings, From=settings.hotline_number, To=DESK_PHONE, Direction="outbound-api"
    )
    offered = twiml(twilio.post(path_of(leg["Url"]), their_leg))
    gather = gather_of(offered)
    assert "民生110排队来电，按任意键接听" in heard(gather)
    accepted = twiml(twilio.post(path_of(gather.get("action") or ""), {**their_leg, "Digits": "1"}))
    queue = accepted.find("Dial/Queue")
    assert queue is not None and (queue.text or "").strip() == "desk"
    connecting = twiml(twilio.post(path_of(queue.get("url") or ""), caller))
    assert heard(connecting) == "正在为您接通工作人员。"
    assert entry_of(db_session, caller).answered_by == "idle"
    assert service.waiting(db_session, "desk") == 0, "being talked to: not offered again"

    # The call ends: the caller's wait is bridged, the call-taker wraps up.
    leave_queue(twilio, caller, _root, "bridged", "12")
    status = path_of(leg["StatusCallback"])
    assert twilio.post(status, {**their_leg, "CallStatus": "completed"}).status_code == 204
    db_session.expire_all()
    taker = db_session.get(CallTaker, idle.id)
    assert taker is not None and taker.state is TakerState.WRAP_UP
    assert entry_of(db_session, caller).result is QueueResult.BRIDGED
    service.finish_wrap_up(db_session, "idle")
    db_session.commit()
    assert db_session.get(CallTaker, idle.id).state is TakerState.AVAILABLE  # type: ignore[union-attr]


def test_a_call_taker_who_does_not_answer_is_set_on_a_break_and_the_next_is_tried(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    away = sign_in(db_session, "away", idle_for=dt.timedelta(minutes=10))
    sign_in(db_session, "present", OTHER_PHONE)
    queue_a_caller(twilio, settings)
    jobs.run_due(app)
    first = offer_leg(rest)
    assert first["To"] == DESK_PHONE

    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    ended = {**their_leg, "CallStatus": "no-answer"}
    assert twilio.post(path_of(first["StatusCallback"]), ended).status_code == 204
    db_session.expire_all()
    taker = db_session.get(CallTaker, away.id)
    assert taker is not None and (taker.state, taker.missed) == (TakerState.BREAK, 1)

    jobs.run_due(app)
    assert offer_leg(rest)["To"] == OTHER_PHONE, "the next call-taker is rung"


def test_a_voicemail_never_takes_a_caller(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    """A machine answers the call-taker's phone and presses nothing: the offer ends without
    the queue being dialled, and the call-taker is taken off (on a break)."""
    taker = sign_in(db_session, "desk1")
    queue_a_caller(twilio, settings)
    jobs.run_due(app)
    leg = offer_leg(rest)
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    offered = twiml(twilio.post(path_of(leg["Url"]), their_leg))
    assert offered.find("Dial") is None and offered.find("Hangup") is not None
    twilio.post(path_of(leg["StatusCallback"]), {**their_leg, "CallStatus": "completed"})
    db_session.expire_all()
    assert db_session.get(CallTaker, taker.id).state is TakerState.BREAK  # type: ignore[union-attr]


def test_a_caller_nothing_understood_jumps_the_queue_and_never_waits_long(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    sign_in(db_session, "desk1")
    _waiting, _ = queue_a_caller(twilio, settings)  # an ordinary caller, first in line
    doubtful = call_params(settings, From="+8613800138003")
    door = twiml(twilio.post("/voice/incoming", doubtful))
    root = twiml(
        twilio.post(
            path_of(gather_of(door).get("action") or ""),
            {**doubtful, "SpeechResult": "嗯……那个……", "Confidence": "0.2"},
        )
    )
    element = enqueued(root)
    assert (element.text or "").strip() == "desk-urgent"

    jobs.run_due(app)
    leg = offer_leg(rest)
    assert parse_qs(urlsplit(leg["Url"]).query)["queue"] == ["desk-urgent"], "answered first"
    their_leg = call_params(settings, From=settings.hotline_number, To=DESK_PHONE)
    gather = gather_of(twiml(twilio.post(path_of(leg["Url"]), their_leg)))
    assert "可能是紧急情况" in heard(gather)

    held = wait(twilio, doubtful, root, QueuePosition="1", QueueTime="10")
    assert held.find("Gather") is None, "never a call-back offer: they must reach a person"
    late = wait(twilio, doubtful, root, QueuePosition="1", QueueTime="31")
    assert late.find("Leave") is not None
    redirect = leave_queue(twilio, doubtful, root, "leave", "31").find("Redirect")
    assert redirect is not None, "not a call-back: put through directly"
    direct = twiml(twilio.post(path_of(redirect.text or ""), doubtful))
    assert direct.find("Dial") is not None
    assert (
        "可能是紧急情况" in ET.tostring(direct, encoding="unicode")
        or direct.find("Dial/Number") is not None
    )
    assert task_of(db_session, doubtful) is None


def test_a_caller_nothing_understood_is_not_queued_when_nobody_is_free(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    service.set_state(db_session, "desk1", TakerState.BREAK, phone=DESK_PHONE)
    db_session.commit()
    doubtful = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", doubtful))
    root = twiml(
        twilio.post(
            path_of(gather_of(door).get("action") or ""),
            {**doubtful, "SpeechResult": "嗯……那个……", "Confidence": "0.2"},
        )
    )
    assert root.find("Enqueue") is None and root.find("Dial") is not None


def test_an_offer_whose_end_never_came_expires_like_a_missed_one(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    rest: list[Posted],
) -> None:
    taker = sign_in(db_session, "desk1")
    queue_a_caller(twilio, settings)
    jobs.run_due(app)
    db_session.expire_all()
    assert db_session.get(CallTaker, taker.id).state is TakerState.ON_CALL  # type: ignore[union-attr]
    later = utcnow() + dt.timedelta(seconds=settings.desk_ring_s + service.LOST_OFFER_GRACE_S + 1)
    assert service.expire_lost_offers(db_session, settings, utcnow()) == 0, "still ringing"
    assert service.expire_lost_offers(db_session, settings, later) == 1
    db_session.commit()
    db_session.expire_all()
    found = db_session.get(CallTaker, taker.id)
    assert found is not None and (found.state, found.missed) == (TakerState.BREAK, 1)
