"""Abandoned calls are never lost: a caller who hangs up while officers' phones ring, or in the
IVR before anyone served them, gets a call-back task (and an abandoned emergency an alert).

Real webhooks, signed as Twilio signs them, on SQLite and PostgreSQL; assertions on rows and
parsed TwiML."""

from __future__ import annotations

import datetime as dt
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import cli
from cases.service import create_case
from config.settings import Settings
from console import figures
from core import db, durable
from core.alerts import Alert
from core.db import database, make_engine
from ivr import hangups
from ivr.figures import answer_times
from routing import callbacks, store
from routing.models import CallbackKind, CallbackTask
from routing.rosterfile import parse_roster
from staff.models import Role
from tests.support import CALLER, TwilioSigner, call_params, twiml
from tests.support.routing import BridgeCall, rung
from tests.support.staff import add_user, login

POLICE = ["+8613805991001", "+8613805991002"]
FIRE = ["+8613805992001"]
DESK = ["+8613805996001"]
MASKED = "+86*********00"  # core.phone.mask(CALLER)

ROSTER = {
    "timezone": "Asia/Shanghai",
    "teams": [
        {"code": "police_command", "name": {"zh": "公安110指挥中心", "en": "Police"}},
        {"code": "fire_brigade", "name": {"zh": "消防救援大队", "en": "Fire"}},
        {"code": "service_desk", "name": {"zh": "服务台", "en": "Desk"}},
    ],
    "officers": [
        {"code": "P1", "name": "民警1", "team": "police_command", "phone": POLICE[0]},
        {"code": "P2", "name": "民警2", "team": "police_command", "phone": POLICE[1]},
        {"code": "F1", "name": "消防员1", "team": "fire_brigade", "phone": FIRE[0]},
        {"code": "D1", "name": "坐席1", "team": "service_desk", "phone": DESK[0]},
    ],
    "shifts": [
        {"officers": ["P1", "P2", "F1", "D1"], "days": "daily", "start": "00:00", "end": "00:00"}
    ],
    "routing": {
        "police": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "fire": [
            {"team": "fire_brigade", "strategy": "all", "ring_seconds": 20},
            {"team": "police_command", "strategy": "all", "ring_seconds": 15},
        ],
        "medical": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "traffic": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "disaster": [{"team": "police_command", "strategy": "all", "ring_seconds": 20}],
        "desk": [{"team": "service_desk", "strategy": "sequential", "ring_seconds": 15}],
    },
}


@pytest.fixture
def roster(app: Flask, db_session: Session, settings: Settings) -> None:
    store.save_roster(db_session, parse_roster(ROSTER, settings.default_region))
    db_session.commit()


def tasks(db_session: Session, call_sid: str | None = None) -> list[CallbackTask]:
    query = select(CallbackTask).order_by(CallbackTask.id)
    if call_sid is not None:
        query = query.where(CallbackTask.call_sid == call_sid)
    return list(db_session.scalars(query.execution_options(populate_existing=True)))


def alerts(db_session: Session, call_sid: str) -> list[tuple[str, int, str]]:
    rows = db_session.scalars(select(Alert).where(Alert.call_sid == call_sid).order_by(Alert.id))
    return [(a.kind, a.priority, a.message) for a in rows]


def outcomes(db_session: Session, call_sid: str) -> list[tuple[int, str, bool]]:
    """(step, outcome, closed) of each attempt of the call."""
    return [
        (a.step, a.outcome, a.ended_at is not None) for a in store.attempts(db_session, call_sid)
    ]


# ---------------------------------------------------------------- hung up while phones rang


@pytest.mark.usefixtures("roster")
@pytest.mark.parametrize("dial_status", ["no-answer", "canceled", "completed"])
def test_a_caller_who_hangs_up_during_tier_1_is_alerted_and_called_back(
    twilio: TwilioSigner, settings: Settings, db_session: Session, dial_status: str
) -> None:
    caller = BridgeCall(twilio, settings)
    assert rung(caller.respond(SpeechResult="楼下着火了", Confidence="0.9")) == FIRE
    root = caller.dial_ends(dial_status, "completed")

    assert [el.tag for el in root] == ["Hangup"], "no second tier for a caller who is gone"
    assert outcomes(db_session, caller.sid) == [(0, "abandoned", True)]
    ((kind, priority, message),) = alerts(db_session, caller.sid)
    assert (kind, priority) == ("abandoned", 0)
    assert "fire" in message and MASKED in message
    assert CALLER not in message, "the full number is for the console, not the alert text"
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.caller_number, task.route, task.language) == (
        CallbackKind.ABANDONED_BRIDGE,
        0,
        CALLER,
        "fire",
        "zh",
    )
    assert (task.closed_at, task.attempts, task.outcome) == (None, 0, None)


@pytest.mark.usefixtures("roster")
def test_a_retried_dial_action_and_the_final_status_change_nothing(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="1")
    action = caller.dial_action()
    params = {**caller.params, "CallStatus": "completed", "DialCallStatus": "no-answer"}
    first = twilio.post(action, params)
    (task,) = tasks(db_session, caller.sid)
    (attempt,) = store.attempts(db_session, caller.sid)
    ended = attempt.ended_at

    retry = twilio.post(action, params)
    assert retry.get_data() == first.get_data()
    assert caller.ends(31) == 204
    assert [t.id for t in tasks(db_session, caller.sid)] == [task.id], "still one task"
    assert len(alerts(db_session, caller.sid)) == 1
    (attempt,) = store.attempts(db_session, caller.sid)
    assert (attempt.outcome, attempt.ended_at) == ("abandoned", ended)


@pytest.mark.usefixtures("roster")
def test_a_caller_hanging_up_on_the_desk_is_a_priority_1_task(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    assert rung(caller.respond(Digits="0")) == DESK
    assert [el.tag for el in caller.dial_ends("no-answer", "completed")] == ["Hangup"]
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.route) == (CallbackKind.ABANDONED_BRIDGE, 1, "desk")
    assert [(k, p) for k, p, _ in alerts(db_session, caller.sid)] == [("abandoned", 1)]


@pytest.mark.usefixtures("roster")
def test_an_abandoned_emergency_without_a_number_stays_open_for_a_person(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings, From="anonymous", BridgeCall="anonymous")
    caller.respond(Digits="1")
    caller.dial_ends("no-answer", "completed")
    (task,) = tasks(db_session, caller.sid)
    assert (task.caller_number, task.closed_at, task.priority) == (None, None, 0)
    ((_, _, message),) = alerts(db_session, caller.sid)
    assert "number withheld" in message


@pytest.mark.usefixtures("roster")
def test_a_caller_still_on_the_line_gets_the_next_tier_and_no_task(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(SpeechResult="楼下着火了", Confidence="0.9")
    assert rung(caller.dial_ends("no-answer", "in-progress")) == POLICE
    assert outcomes(db_session, caller.sid) == [(0, "no-answer", True), (1, "ringing", False)]
    assert tasks(db_session, caller.sid) == []
    assert alerts(db_session, caller.sid) == []


@pytest.mark.usefixtures("roster")
def test_a_caller_who_talked_to_an_officer_and_hung_up_is_served(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="1")
    caller.officer_answers(POLICE[0], "1")
    root = caller.dial_ends("completed", "completed", DialBridged="true", DialCallDuration="80")
    assert [el.tag for el in root] == ["Hangup"]
    assert caller.ends(95) == 204
    assert outcomes(db_session, caller.sid) == [(0, "connected", True)]
    assert tasks(db_session, caller.sid) == []
    assert alerts(db_session, caller.sid) == []


@pytest.mark.usefixtures("roster")
def test_the_end_of_the_call_closes_an_attempt_whose_dial_action_never_came(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="1")
    assert outcomes(db_session, caller.sid) == [(0, "ringing", False)]
    assert caller.ends(12) == 204
    assert outcomes(db_session, caller.sid) == [(0, "abandoned", True)]
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.caller_number, task.route) == (
        CallbackKind.ABANDONED_BRIDGE,
        0,
        CALLER,
        "police",
    )
    assert [(k, p) for k, p, _ in alerts(db_session, caller.sid)] == [("abandoned", 0)]

    # The Dial action arrives late: the caller is gone, and nothing is doubled.
    assert [el.tag for el in caller.dial_ends("no-answer", "completed")] == ["Hangup"]
    assert len(tasks(db_session, caller.sid)) == 1
    assert len(alerts(db_session, caller.sid)) == 1


@pytest.mark.usefixtures("roster")
def test_the_end_of_the_call_closes_an_accepted_attempt_as_connected(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="1")
    caller.officer_answers(POLICE[1], "1")
    assert caller.ends(60) == 204
    assert outcomes(db_session, caller.sid) == [(0, "connected", True)]
    assert tasks(db_session, caller.sid) == []


# ---------------------------------------------------------------- the database is down


@pytest.fixture
def dead_database(app: Flask) -> Iterator[None]:
    """Point the app at a database that refuses connections, then bring the real one back."""
    db_ = database(app)
    real = db_.sessions
    dead = make_engine("postgresql://hotline@127.0.0.1:9/nowhere", timeout_s=1)
    db_.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        yield
    finally:
        db_.sessions = real
        db_.mark_up()
        dead.dispose()


def database_back(app: Flask, db_session: Session) -> None:
    database(app).sessions = sessionmaker(
        bind=db_session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    database(app).mark_up()


def replay(app: Flask) -> int:
    with app.app_context():
        return durable.spool().replay(database(app).sessions, durable.HANDLERS)


@pytest.mark.usefixtures("roster")
def test_during_an_outage_the_abandoned_bridge_is_spooled_and_replay_creates_the_task(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    request: pytest.FixtureRequest,
) -> None:
    with app.app_context():  # the roster is cached before the outage
        assert app.extensions["hotline.roster"].get() is not None
    caller = BridgeCall(twilio, settings)
    request.getfixturevalue("dead_database")
    assert rung(caller.respond(SpeechResult="楼下着火了", Confidence="0.9")) == FIRE
    assert [el.tag for el in caller.dial_ends("no-answer", "completed")] == ["Hangup"]
    assert caller.ends(25) == 204
    with app.app_context():
        spooled = durable.spool().pending()
    kinds = [line for path in spooled for line in path.read_text("utf-8").splitlines()]
    assert any('"kind": "callback"' in line for line in kinds)
    assert any('"kind": "call_ended"' in line for line in kinds)
    assert tasks(db_session) == [], "nothing reached the database"

    database_back(app, db_session)
    copies = [path.with_suffix(".copy") for path in spooled]
    for path, copy in zip(spooled, copies, strict=True):
        shutil.copy(path, copy)
    assert replay(app) >= 6
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.caller_number, task.route) == (
        CallbackKind.ABANDONED_BRIDGE,
        0,
        CALLER,
        "fire",
    )
    assert outcomes(db_session, caller.sid) == [(0, "abandoned", True)]
    assert [(k, p) for k, p, _ in alerts(db_session, caller.sid)] == [("abandoned", 0)]

    # A crash between the commit and the delete replays the same files again: no change.
    for path, copy in zip(spooled, copies, strict=True):
        copy.rename(path)
    assert replay(app) >= 6
    assert [t.id for t in tasks(db_session, caller.sid)] == [task.id]
    assert len(alerts(db_session, caller.sid)) == 1
    assert outcomes(db_session, caller.sid) == [(0, "abandoned", True)]


@pytest.mark.usefixtures("roster")
def test_a_status_callback_does_not_overtake_the_calls_spooled_webhooks(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    request: pytest.FixtureRequest,
) -> None:
    """The bridge began during an outage (its dial step is in the spool); the database is back
    when the caller's hang-up is reported: the call is not taken for an IVR hang-up."""
    with app.app_context():
        assert app.extensions["hotline.roster"].get() is not None
    caller = BridgeCall(twilio, settings)
    request.getfixturevalue("dead_database")
    caller.respond(Digits="1")
    database_back(app, db_session)
    with app.app_context():
        durable.spool()._next_replay = float("inf")  # no replay after requests: we do it
    assert caller.ends(40) == 204
    assert tasks(db_session) == [], "the end of the call waits behind the spooled dial step"
    replay(app)
    (task,) = tasks(db_session, caller.sid)
    assert task.kind is CallbackKind.ABANDONED_BRIDGE
    assert outcomes(db_session, caller.sid) == [(0, "abandoned", True)]


def test_an_ivr_hang_up_during_an_outage_is_counted_when_the_database_is_back(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    request: pytest.FixtureRequest,
) -> None:
    request.getfixturevalue("dead_database")
    caller = BridgeCall(twilio, settings)  # the front door answers without the database
    assert caller.ends(15) == 204
    database_back(app, db_session)
    replay(app)
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.caller_number) == (
        CallbackKind.ABANDONED_IVR,
        2,
        CALLER,
    )


# ---------------------------------------------------------------- hung up in the IVR


def test_a_caller_who_hangs_up_in_the_ivr_gets_a_priority_2_task(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="9")  # English, then gone
    assert caller.ends(14) == 204
    assert caller.ends(14) == 204  # Twilio delivered it twice
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.priority, task.caller_number, task.route, task.closed_at) == (
        CallbackKind.ABANDONED_IVR,
        2,
        CALLER,
        None,
        None,
    )
    assert task.language == "en"
    assert alerts(db_session, caller.sid) == [], "an IVR hang-up is no emergency"


def test_a_misdial_and_a_call_that_never_connected_are_not_called_back(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    misdial = BridgeCall(twilio, settings)
    assert misdial.ends(hangups.MISDIAL_MAX_S) == 204
    canceled = BridgeCall(twilio, settings)
    assert canceled.ends(0, status="canceled") == 204
    assert tasks(db_session) == []
    longer = BridgeCall(twilio, settings)
    assert longer.ends(hangups.MISDIAL_MAX_S + 1) == 204
    assert [t.call_sid for t in tasks(db_session)] == [longer.sid], "the rule can fail"


def test_an_ivr_hang_up_with_a_withheld_number_is_counted_but_closed(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings, From="anonymous", BridgeCall="anonymous")
    assert caller.ends(20) == 204
    (task,) = tasks(db_session, caller.sid)
    assert (task.kind, task.caller_number, task.outcome) == (
        CallbackKind.ABANDONED_IVR,
        None,
        hangups.NO_NUMBER,
    )
    assert task.closed_at is not None
    assert callbacks.open_callbacks(db_session) == [], "nothing for a duty officer to dial"


def test_a_caller_whose_request_became_a_case_is_served(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    root = caller.respond(SpeechResult="路灯坏了一个月没人修", Confidence="0.9")
    assert root.find("Record") is not None, ET.tostring(root, encoding="unicode")
    # The case the recording's webhook opens (tests/cases/test_intake.py drives that webhook).
    create_case(
        db_session,
        call_sid=caller.sid,
        category="city_management",
        language="zh",
        caller_number=CALLER,
        caller_raw=CALLER,
        transcript="路灯坏了一个月没人修",
        tz=settings.tz,
        holidays={},
    )
    db_session.commit()
    assert caller.ends(45) == 204
    assert tasks(db_session) == []


def test_a_case_opened_after_the_final_status_closes_the_ivr_task(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    """A caller who hangs up while recording: Twilio may report the end before the recording."""
    caller = BridgeCall(twilio, settings)
    caller.respond(SpeechResult="路灯坏了一个月没人修", Confidence="0.9")
    assert caller.ends(45) == 204
    (task,) = tasks(db_session, caller.sid)
    assert task.closed_at is None
    create_case(
        db_session,
        call_sid=caller.sid,
        category="city_management",
        language="zh",
        caller_number=CALLER,
        caller_raw=CALLER,
        transcript="路灯坏了一个月没人修",
        tz=settings.tz,
        holidays={},
    )
    db_session.commit()
    db_session.expire_all()
    (task,) = tasks(db_session, caller.sid)
    assert (task.outcome, task.closed_at is not None) == ("not_needed", True)


@pytest.mark.usefixtures("roster")
def test_a_caller_bridged_to_an_officer_is_served(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    caller.respond(Digits="0")
    caller.officer_answers(DESK[0], "1")
    caller.dial_ends("completed", "in-progress", DialBridged="true", DialCallDuration="50")
    assert caller.ends(70) == 204
    assert tasks(db_session) == []


def test_a_caller_who_heard_their_cases_progress_is_served(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    root = caller.respond(Digits="8")
    assert root.find("Gather") is not None, "the progress look-up asks for a case number"
    assert caller.ends(30) == 204
    assert tasks(db_session) == []


def test_a_call_to_the_units_line_is_no_ivr_hang_up(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    twiml(twilio.post("/voice/units/incoming", params))
    done = {**params, "CallStatus": "completed", "CallDuration": "30"}
    assert twilio.post("/voice/status", done).status_code == 204
    assert tasks(db_session) == []


# ---------------------------------------------------------------- answer-time figures


@pytest.mark.usefixtures("roster")
def test_answer_times_and_figures_count_abandoned_calls_apart(
    app: Flask, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    answered = BridgeCall(twilio, settings)
    answered.respond(Digits="1")
    answered.officer_answers(POLICE[0], "1")
    answered.dial_ends("completed", "in-progress", DialBridged="true", DialCallDuration="30")
    for _ in range(2):
        gone = BridgeCall(twilio, settings)
        gone.respond(SpeechResult="楼下着火了", Confidence="0.9")
        gone.dial_ends("no-answer", "completed")
    nobody = BridgeCall(twilio, settings)
    nobody.respond(Digits="1")
    nobody.dial_ends("no-answer", "in-progress")  # on to the last resort
    nobody.dial_ends("busy", "in-progress")  # and nobody there either

    since = db.utcnow() - dt.timedelta(hours=1)
    (row,) = answer_times(db_session, since)
    assert row[0] == answered.sid, "an abandoned call has no answer time"
    counts = store.bridge_outcomes(db_session, since)
    assert counts["police"] == store.BridgeCounts(answered=1, unanswered=1)
    assert counts["fire"] == store.BridgeCounts(abandoned=2)
    total = sum(counts.values(), store.BridgeCounts())
    assert total.abandon_rate == 0.5

    result = CliRunner().invoke(
        cli, ["roster", "answer-times"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert "1 calls: p50" in result.output
    assert (
        "all routes: 4 bridged calls ended: 1 answered, 2 abandoned (abandon rate 50.0%), "
        "1 nobody answered"
    ) in result.output

    with app.test_request_context():
        f = figures.compute(
            db_session,
            app.extensions["hotline.survey"],
            settings.tz,
            since,
            db.utcnow() + dt.timedelta(minutes=1),
            db.utcnow(),
        )
    assert f.answered_calls == 1
    assert (f.bridged.answered, f.bridged.abandoned, f.bridged.unanswered) == (1, 2, 1)
    assert f.as_dict()["bridged_calls"]["abandon_rate"] == 0.5
    assert ("bridged_calls", "abandoned", "2") in f.csv_rows()

    add_user(db_session, "boss", Role.SUPERVISOR)
    client = app.test_client()
    login(client, "boss")
    page = client.get("/console/figures?lang=zh").get_data(as_text=True)
    assert "来电人中途挂断 2" in page and "中途挂断率 50.0%" in page


# ---------------------------------------------------------------- the command line


def test_the_cli_lists_tasks_and_records_outcomes(
    app: Flask, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller = BridgeCall(twilio, settings)
    assert caller.ends(20) == 204
    (task,) = tasks(db_session, caller.sid)
    runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)

    listed = runner.invoke(cli, ["callbacks", "list"], obj=info)
    assert listed.exit_code == 0, listed.output
    assert f"{task.id:>6}  P2" in listed.output and CALLER in listed.output

    for attempt in (1, 2):
        out = runner.invoke(
            cli, ["callbacks", "done", str(task.id), "--outcome", "no_answer"], obj=info
        )
        assert out.exit_code == 0, out.output
        assert f"attempt {attempt}" in out.output
    bad = runner.invoke(cli, ["callbacks", "done", str(task.id), "--outcome", "maybe"], obj=info)
    assert bad.exit_code != 0
    last = runner.invoke(
        cli, ["callbacks", "done", str(task.id), "--outcome", "no_answer"], obj=info
    )
    assert "closed, no_answer after 3 attempt(s)" in last.output
    (task,) = tasks(db_session, caller.sid)
    assert (task.attempts, task.outcome, task.closed_at is not None) == (3, "no_answer", True)
    again = runner.invoke(
        cli, ["callbacks", "done", str(task.id), "--outcome", "reached"], obj=info
    )
    assert again.exit_code == 1 and "is closed" in again.output
    missing = runner.invoke(cli, ["callbacks", "done", "999999", "--outcome", "reached"], obj=info)
    assert missing.exit_code == 1 and "no call-back task" in missing.output
    closed = runner.invoke(cli, ["callbacks", "list", "--closed"], obj=info)
    assert "no_answer" in closed.output
