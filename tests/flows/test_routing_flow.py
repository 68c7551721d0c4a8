"""Whole emergency calls through the bridge: ringing, screening, tiers, last resort, outage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app import cli
from calls.models import Call, CallEvent
from calls.service import get_call
from config.settings import Settings
from core import db, durable
from core.alerts import Alert
from core.db import database, make_engine
from core.jobs import Job
from ivr.figures import answer_times
from recordings import service as recordings
from routing import store
from routing.cache import RosterCache
from routing.models import CallbackTask
from routing.rosterfile import parse_roster
from tests.support import TwilioSigner, call_params, gather_of, new_call_sid, path_of, said, twiml
from tests.support.routing import DESK, FIRE, POLICE, ROSTER, BridgeCall, dial, query, rung


@pytest.fixture
def roster(app: Flask, db_session: Session, settings: Settings) -> None:
    """Everyone on duty around the clock; stored as an import would."""
    store.save_roster(db_session, parse_roster(ROSTER, settings.default_region))
    db_session.commit()


@pytest.fixture
def caller(twilio: TwilioSigner, settings: Settings) -> BridgeCall:
    return BridgeCall(twilio, settings)


@pytest.mark.usefixtures("roster")
def test_key_1_rings_every_on_duty_officer_of_the_first_tier_at_once(
    caller: BridgeCall, settings: Settings, db_session: Session
) -> None:
    root = caller.respond(Digits="1")
    assert said(root)[0] == ("cmn-CN", "正在为您接通值班民警，请不要挂机。")
    assert rung(root) == POLICE
    d = dial(root)
    assert d.get("timeout") == "20"
    assert d.get("ringTone") == "cn"
    assert d.get("record") is None, "not recorded unless RECORD_BRIDGED_CALLS"
    assert query(d.get("action") or "")["step"] == "0"
    assert all("/voice/route/screen" in (n.get("url") or "") for n in d.iter("Number"))
    (attempt,) = store.attempts(db_session, caller.sid)
    assert (attempt.route, attempt.step, attempt.tier, attempt.outcome) == (
        "police",
        0,
        0,
        "ringing",
    )
    assert [n["phone"] for n in attempt.numbers] == POLICE


@pytest.mark.usefixtures("roster")
def test_the_officer_hears_the_category_and_must_press_a_key(
    caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(SpeechResult="我家着火了 快来", Confidence="0.9")
    assert rung(caller.root) == FIRE
    (element,) = [n for n in dial(caller.root).iter("Number") if n.text == FIRE[0]]
    leg = call_params(
        caller.settings,
        CallSid=new_call_sid(),
        ParentCallSid=caller.sid,
        Direction="outbound-dial",
        To=FIRE[0],
        CallStatus="in-progress",
    )
    whisper = twiml(caller.twilio.post(path_of(element.get("url") or ""), leg))
    gather = gather_of(whisper)
    assert gather.get("numDigits") == "1"
    assert said(gather) == [("cmn-CN", "民生110紧急来电，类别：火警，按任意键接听。")]
    assert [el.tag for el in whisper] == ["Gather", "Hangup"], "no key, no bridge"

    accepted = twiml(
        caller.twilio.post(path_of(gather.get("action") or ""), {**leg, "Digits": "5"})
    )
    assert accepted.find("Hangup") is None
    (attempt,) = store.attempts(db_session, caller.sid)
    assert (attempt.answered_by, attempt.answered_phone) == ("F1", FIRE[0])
    assert attempt.accepted_at is not None


@pytest.mark.usefixtures("roster")
def test_an_answered_call_ends_when_the_conversation_does(
    caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(Digits="1")
    caller.officer_answers(POLICE[1], "1")
    root = caller.dial_ends("completed", DialBridged="true", DialCallDuration="95")
    assert [el.tag for el in root] == ["Hangup"]
    (attempt,) = store.attempts(db_session, caller.sid)
    assert (attempt.outcome, attempt.duration_s, attempt.answered_by) == ("connected", 95, "P2")


@pytest.mark.usefixtures("roster")
def test_a_tier_that_times_out_rings_the_next_tier(caller: BridgeCall, db_session: Session) -> None:
    caller.respond(SpeechResult="楼下着火了", Confidence="0.9")
    root = caller.dial_ends("no-answer")
    assert rung(root) == POLICE, "fire's second tier is police command"
    assert any("转接其他值班人员" in text for _, text in said(root))
    outcomes = [(a.step, a.tier, a.outcome) for a in store.attempts(db_session, caller.sid)]
    assert outcomes == [(0, 0, "no-answer"), (1, 1, "ringing")]


@pytest.mark.usefixtures("roster")
def test_a_busy_desk_officer_rings_the_next_one_in_order(caller: BridgeCall) -> None:
    caller.respond(Digits="0")
    assert rung(caller.root) == [DESK[0]], "the desk rings one at a time"
    assert rung(caller.dial_ends("busy")) == [DESK[1]]


@pytest.mark.usefixtures("roster")
def test_a_caller_nothing_understood_reaches_the_desk_told_it_may_be_urgent_then_the_110_line(
    caller: BridgeCall, db_session: Session
) -> None:
    root = caller.respond(SpeechResult="嗯 那个 我 我不知道怎么说", Confidence="0.8")
    assert root.find("Gather") is None, "no second question"
    assert rung(root) == [DESK[0]]
    assert query(dial(root).get("action") or "")["route"] == "doubt"
    (element,) = list(dial(root).iter("Number"))
    leg = call_params(
        caller.settings,
        CallSid=new_call_sid(),
        ParentCallSid=caller.sid,
        Direction="outbound-dial",
        To=DESK[0],
        CallStatus="in-progress",
    )
    whisper = gather_of(twiml(caller.twilio.post(path_of(element.get("url") or ""), leg)))
    assert said(whisper) == [
        ("cmn-CN", "民生110来电，系统未能识别，可能是紧急情况，按任意键接听。")
    ]

    assert rung(caller.dial_ends("no-answer")) == [DESK[1]]
    last = caller.dial_ends("no-answer")
    assert rung(last) == [caller.settings.fallback_number], "the emergency last resort"
    assert caller.settings.service_desk_number not in rung(last)
    routes = {a.route for a in store.attempts(db_session, caller.sid)}
    assert routes == {"doubt"}


@pytest.mark.usefixtures("roster")
def test_a_doubtful_caller_who_hangs_up_is_called_back_first(
    caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(SpeechResult="嗯 那个", Confidence="0.8")
    caller.dial_ends("no-answer", "completed")
    (task,) = db_session.scalars(select(CallbackTask).where(CallbackTask.call_sid == caller.sid))
    assert (task.route, task.priority) == ("doubt", 0), "as urgent as an emergency's"


@pytest.mark.usefixtures("roster")
@pytest.mark.parametrize("bridged", ["false", None])
def test_a_voicemail_that_answers_does_not_count_as_an_officer(
    caller: BridgeCall, settings: Settings, bridged: str | None
) -> None:
    caller.respond(Digits="1")
    hung_up = caller.officer_answers(POLICE[0], None)  # voicemail: no key pressed
    assert [el.tag for el in hung_up] == ["Hangup"]
    extra = {"DialBridged": bridged} if bridged else {}
    root = caller.dial_ends("completed", DialCallDuration="4", **extra)
    assert rung(root) == [settings.fallback_number], "on to the last resort, not 'done'"


@pytest.mark.usefixtures("roster")
def test_without_dial_bridged_our_own_record_of_the_key_press_decides(caller: BridgeCall) -> None:
    caller.respond(Digits="1")
    caller.officer_answers(POLICE[2], "1")
    root = caller.dial_ends("completed", DialCallDuration="40")
    assert [el.tag for el in root] == ["Hangup"]


@pytest.mark.usefixtures("roster")
def test_when_everyone_fails_the_caller_leaves_a_message_and_an_alert_is_raised(
    caller: BridgeCall, settings: Settings, db_session: Session
) -> None:
    caller.respond(Digits="1")
    last = caller.dial_ends("no-answer")
    assert rung(last) == [settings.fallback_number]
    root = caller.dial_ends("failed")
    record = root.find("Record")
    assert record is not None
    assert record.get("finishOnKey") == "#"
    assert any("提示音后" in text for _, text in said(root))
    alerts = db_session.scalars(select(Alert).where(Alert.call_sid == caller.sid)).all()
    assert [(a.kind, a.priority) for a in alerts] == [("unanswered", 0)]

    params = {
        **caller.params,
        "RecordingUrl": "https://api.twilio.com/r/RE1",
        "RecordingDuration": "12",
    }
    done = twiml(caller.twilio.post(path_of(record.get("action") or ""), params))
    assert done.find("Hangup") is not None
    kinds = {
        a.kind: a for a in db_session.scalars(select(Alert).where(Alert.call_sid == caller.sid))
    }
    assert kinds["caller_message"].recording_url == "https://api.twilio.com/r/RE1"
    assert kinds["caller_message"].priority == 0


@pytest.mark.usefixtures("roster")
def test_a_retried_dial_action_neither_skips_nor_repeats_a_tier(
    caller: BridgeCall, twilio: TwilioSigner, db_session: Session
) -> None:
    caller.respond(SpeechResult="着火了", Confidence="0.9")
    action = path_of(dial(caller.root).get("action") or "")
    params = {**caller.params, "DialCallStatus": "no-answer"}
    first = twilio.post(action, params)
    retry = twilio.post(action, params)
    assert first.get_data() == retry.get_data()
    assert [(a.step, a.outcome) for a in store.attempts(db_session, caller.sid)] == [
        (0, "no-answer"),
        (1, "ringing"),
    ]


def test_with_no_roster_at_all_the_last_resort_still_rings(
    caller: BridgeCall, settings: Settings
) -> None:
    assert rung(caller.respond(Digits="1")) == [settings.fallback_number]


@pytest.mark.usefixtures("roster")
def test_bridged_calls_are_recorded_when_settings_say_so(
    app: Flask, caller: BridgeCall, settings: Settings
) -> None:
    app.extensions["hotline.settings"] = dataclasses.replace(settings, record_bridged_calls=True)
    d = dial(caller.respond(Digits="1"))
    assert d.get("record") == "record-from-answer-dual"
    assert (d.get("recordingStatusCallback") or "").endswith("/voice/recording-status")


@pytest.mark.parametrize(
    "query_string",
    [
        "route=pizza&at=1&step=0",
        "route=fire&at=1&step=0",
        "route=fire&at=abc&step=0",
        "route=fire&at={now}&step=x",
        "route=fire&step=0",
    ],
)
def test_forged_or_malformed_bridge_urls_are_refused(
    twilio: TwilioSigner, settings: Settings, query_string: str
) -> None:
    path = "/voice/route/dialed?" + query_string.format(now=int(time.time()))
    response = twilio.post(path, call_params(settings, DialCallStatus="no-answer"))
    assert response.status_code == 400


# ---------------------------------------------------------------- the database goes away


@pytest.fixture
def dead_database(app: Flask) -> Iterator[None]:
    """Point the app at a database that refuses connections, then bring the real one back."""
    db = database(app)
    real = db.sessions
    dead = make_engine("postgresql://hotline@127.0.0.1:9/nowhere", timeout_s=1)
    db.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        yield
    finally:
        db.sessions = real
        db.mark_up()
        dead.dispose()


@pytest.mark.usefixtures("roster")
def test_an_emergency_still_reaches_an_officer_when_the_database_dies_mid_call(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    request: pytest.FixtureRequest,
) -> None:
    with app.app_context():  # the roster cache refreshes on its timer before the outage
        assert app.extensions["hotline.roster"].get() is not None
    caller = BridgeCall(twilio, settings)  # greeted while the database is up

    request.getfixturevalue("dead_database")
    root = caller.respond(Digits="1")
    assert said(root)[0] == ("cmn-CN", "正在为您接通值班民警，请不要挂机。")
    assert rung(root) == POLICE, "the cached roster rings the right people"
    caller.officer_answers(POLICE[0], "1")
    assert [el.tag for el in caller.dial_ends("completed", DialBridged="true")] == ["Hangup"]
    with app.app_context():
        assert durable.spool().pending(), "what happened was written to the local spool"

    # The database comes back: replay, and the call's record is complete.
    database(app).sessions = sessionmaker(
        bind=db_session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    database(app).mark_up()
    with app.app_context():
        replayed = durable.spool().replay(database(app).sessions, durable.HANDLERS)
        assert replayed >= 5
        assert not durable.spool().pending()
    call = get_call(db_session, caller.sid)
    assert call is not None
    routes = db_session.scalars(
        select(CallEvent.route).where(CallEvent.call_sid == caller.sid).order_by(CallEvent.id)
    ).all()
    assert routes == ["/voice/incoming", "/voice/ivr/gather", "/voice/route/dialed"]
    (attempt,) = store.attempts(db_session, caller.sid)
    assert (attempt.outcome, attempt.answered_by) == ("connected", "P1")


def test_a_process_started_during_an_outage_uses_the_roster_snapshot(
    app: Flask,
    db_session: Session,
    settings: Settings,
    twilio: TwilioSigner,
    request: pytest.FixtureRequest,
) -> None:
    store.save_roster(db_session, parse_roster(ROSTER, settings.default_region))
    db_session.commit()
    with app.app_context():
        app.extensions["hotline.roster"].get()  # writes the snapshot
    request.getfixturevalue("dead_database")
    fresh = RosterCache(database(app), settings.spool_dir / "roster-snapshot.yaml", "CN")
    roster = fresh.get()
    assert roster is not None
    assert [o.phone for o in roster.officers.values()][:3] == POLICE


def test_the_front_door_answers_without_any_database(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    request: pytest.FixtureRequest,
    db_session: Session,
) -> None:
    request.getfixturevalue("dead_database")
    params = call_params(settings)
    root = twiml(twilio.post("/voice/incoming", params))
    assert gather_of(root).get("input") == "dtmf speech"
    silence = twiml(twilio.post(path_of(gather_of(root).get("action") or ""), params))
    assert rung(silence) == [settings.service_desk_number], "without state: straight to a person"
    assert db_session.scalar(select(func.count()).select_from(Call)) == 0


@pytest.mark.usefixtures("roster")
def test_time_from_key_press_to_an_officer_is_reported(
    app: Flask, caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(Digits="1")
    caller.officer_answers(POLICE[0], "1")
    caller.dial_ends("completed", DialBridged="true")
    (row,) = answer_times(db_session, db.utcnow() - dt.timedelta(hours=1))
    assert row[0] == caller.sid
    assert row[1] == "police"
    assert 0 <= row[2] < 5
    result = CliRunner().invoke(
        cli, ["roster", "answer-times"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert "1 calls: p50" in result.output
    assert "answered within 15 s: 100.0%" in result.output


def test_status_and_recording_callbacks_during_an_outage_are_applied_later(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    request: pytest.FixtureRequest,
) -> None:
    caller = BridgeCall(twilio, settings)
    request.getfixturevalue("dead_database")
    status = {**caller.params, "CallStatus": "completed", "CallDuration": "42"}
    assert twilio.post("/voice/status", status).status_code == 204
    sid = "RE" + "e" * 32
    recording = {
        **caller.params,
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "9",
    }
    assert twilio.post("/voice/recording-status", recording).status_code == 204

    database(app).sessions = sessionmaker(
        bind=db_session.get_bind(),
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )
    database(app).mark_up()
    with app.app_context():
        durable.spool().replay(database(app).sessions, durable.HANDLERS)
    call = get_call(db_session, caller.sid)
    assert call is not None and call.duration_s == 42
    stored = recordings.get(db_session, sid)
    assert stored is not None, "the recording is known, and its download scheduled"
    assert db_session.scalars(select(Job).where(Job.key == sid)).one() is not None


def test_without_the_database_the_status_line_sends_the_caller_to_a_person(
    twilio: TwilioSigner, settings: Settings, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("dead_database")
    params = call_params(settings)
    root = twiml(twilio.post("/voice/incoming", params))
    after = twiml(
        twilio.post(path_of(gather_of(root).get("action") or ""), {**params, "Digits": "8"})
    )
    assert rung(after) == [settings.service_desk_number]
    assert not any("系统繁忙" in text for _, text in said(after)), "not the apology path"


@pytest.mark.usefixtures("roster")
def test_a_roster_change_during_a_bridge_neither_skips_nor_repeats_anyone(
    app: Flask, caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(Digits="0")
    assert rung(caller.root) == [DESK[0]]
    # While D1's phone rings, a supervisor takes D1 off duty: a new roster version.
    assert store.set_available(db_session, "D1", False)
    db_session.commit()
    with app.app_context():
        app.extensions["hotline.roster"].invalidate()
        current = app.extensions["hotline.roster"].get()
        assert current is not None and not current.officers["D1"].available
    assert rung(caller.dial_ends("no-answer")) == [DESK[1]], "D2 is next, as planned"
    # A call that starts now uses the new roster.
    fresh = BridgeCall(caller.twilio, caller.settings)
    assert rung(fresh.respond(Digits="0")) == [DESK[1]]
