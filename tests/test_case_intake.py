"""A service call end to end: IVR → recording → case with number, SMS, dispatch."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.models import Case
from cases.service import case_by_call, timeline
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs
from core.db import database, make_engine
from core.jobs import Job
from routing import durable
from tests.support import TwilioSigner, call_params, gather_of, new_call_sid, path_of, said, twiml

NUMBER = re.compile(r"^MS-\d{8}-\d{4}$")


class Caller:
    def __init__(self, twilio: TwilioSigner, settings: Settings, **overrides: str) -> None:
        self.twilio, self.settings = twilio, settings
        self.params = call_params(settings, **overrides)
        self.root = twiml(twilio.post("/voice/incoming", self.params))

    @property
    def sid(self) -> str:
        return self.params["CallSid"]

    def respond(self, **extra: str) -> ET.Element:
        action = gather_of(self.root).get("action") or ""
        self.root = twiml(self.twilio.post(path_of(action), {**self.params, **extra}))
        return self.root

    def record(self, **extra: str) -> ET.Element:
        record = self.root.find("Record")
        assert record is not None, ET.tostring(self.root, encoding="unicode")
        sid = "RE" + new_call_sid()[2:]
        params = {
            **self.params,
            "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{sid}",
            "RecordingDuration": "14",
            "Digits": "#",
            **extra,
        }
        self.root = twiml(self.twilio.post(path_of(record.get("action") or ""), params))
        return self.root


@pytest.fixture
def caller(twilio: TwilioSigner, settings: Settings) -> Caller:
    return Caller(twilio, settings)


def spoken(root: ET.Element) -> str:
    return " ".join(text for _, text in said(root))


def test_a_street_light_call_becomes_a_dispatched_case_with_a_number_and_an_sms(
    app: Flask, caller: Caller, db_session: Session
) -> None:
    caller.respond(SpeechResult="路灯坏了一个月没人修", Confidence="0.9")
    root = caller.record()

    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert NUMBER.match(case.number)
    assert (case.category, case.language) == ("city_management", "zh")
    assert case.transcript == "路灯坏了一个月没人修"
    assert case.caller_number == "+8613800138000"
    assert case.recording_sid is not None
    assert (case.state, case.unit_code) == (CaseState.DISPATCHED, "city_management")
    assert [e.action for e in timeline(db_session, case)] == ["receive", "dispatch"]

    digits = case.number.replace("MS-", "").replace("-", "")
    text = spoken(root)
    assert "您的工单号是" in text and "短信" in text
    zh = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
    assert text.count("，".join(zh[d] for d in digits)) == 2, "read digit by digit, twice"
    assert [el.tag for el in root][-1] == "Hangup"

    texts = {
        job.key.split(":")[0]: job.payload
        for job in db_session.scalars(select(Job).where(Job.kind == "sms.send"))
    }
    assert texts["case-received"]["to"] == "+8613800138000"
    assert case.number in texts["case-received"]["body"]
    unit = app.extensions["hotline.units"]["city_management"]
    assert texts["case-dispatch"]["to"] == unit.duty_contact, "the unit's duty contact is told"
    assert case.number in texts["case-dispatch"]["body"]


def test_a_retried_webhook_never_makes_a_second_case(
    caller: Caller, twilio: TwilioSigner, db_session: Session
) -> None:
    caller.respond(Digits="2")
    record = caller.root.find("Record")
    assert record is not None
    params = {**caller.params, "RecordingSid": "RE" + "a" * 32, "RecordingDuration": "9"}
    first = twilio.post(path_of(record.get("action") or ""), params)
    second = twilio.post(path_of(record.get("action") or ""), params)
    assert first.get_data() == second.get_data()
    assert db_session.scalar(select(func.count()).select_from(Case)) == 1
    sms_keys = db_session.scalars(select(Job.key).where(Job.kind == "sms.send")).all()
    assert len([k for k in sms_keys if k.startswith("case-received:")]) == 1


def test_a_caller_who_hangs_up_while_recording_still_gets_a_case(
    caller: Caller, db_session: Session
) -> None:
    caller.respond(Digits="2")
    caller.record(Digits="hangup", CallStatus="completed")
    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert (case.category, case.unit_code) == ("other", "service_center")


def test_nothing_recorded_and_nothing_said_goes_to_a_person(
    caller: Caller, settings: Settings, twilio: TwilioSigner, db_session: Session
) -> None:
    caller.respond(Digits="2")
    redirect = caller.root.find("Redirect")
    assert redirect is not None
    root = twiml(twilio.post(path_of(redirect.text or ""), caller.params))
    dial = root.find("Dial")
    assert dial is not None
    assert [(n.text or "").strip() for n in dial.iter("Number")] == [settings.service_desk_number]
    assert case_by_call(db_session, caller.sid) is None


def test_a_landline_caller_is_told_to_note_the_number(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    landline = Caller(twilio, settings, From="+865996123456")
    landline.respond(SpeechResult="楼下垃圾堆了一个星期没人清", Confidence="0.9")
    root = landline.record()
    assert "请记下工单号" in spoken(root)
    keys = db_session.scalars(select(Job.key).where(Job.kind == "sms.send")).all()
    assert not [k for k in keys if k.startswith("case-received:")]


class FakeMessages:
    """Twilio's Messages endpoint, answering as the API does."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake.posts.append((self.path, parse_qs(body.decode())))
                reply = json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def messages() -> Iterator[FakeMessages]:
    fake = FakeMessages()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_the_sms_job_sends_through_twilios_messaging_api(
    app: Flask, caller: Caller, settings: Settings, messages: FakeMessages, db_session: Session
) -> None:
    app.extensions["hotline.settings"] = dataclasses.replace(
        settings, twilio_api_base_url=messages.base
    )
    caller.respond(SpeechResult="买到假货了 商家不给退", Confidence="0.9")
    caller.record()
    assert jobs.run_due(app) == {"done": 2}  # the caller's text and the unit's
    path, form = next(p for p in messages.posts if p[1]["To"] == ["+8613800138000"])
    assert path == f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
    assert form["To"] == ["+8613800138000"]
    assert form["From"] == [settings.hotline_number]
    case = case_by_call(db_session, caller.sid)
    assert case is not None and case.number in form["Body"][0]


def test_a_request_taken_while_the_database_is_down_becomes_a_case_later(
    app: Flask, caller: Caller, db_session: Session
) -> None:
    caller.respond(Digits="2")
    db = database(app)
    real = db.sessions
    dead = make_engine("postgresql://hotline@127.0.0.1:9/nowhere", timeout_s=1)
    db.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        root = caller.record()
    finally:
        db.sessions = real
        dead.dispose()
        db.mark_up()
    assert "稍后会给您回电" in spoken(root)
    assert case_by_call(db_session, caller.sid) is None
    with app.app_context():
        durable.spool().replay(db.sessions, durable.HANDLERS)
    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert case.recording_sid is not None
    assert case.state is CaseState.DISPATCHED


def test_the_spool_is_replayed_by_the_next_request_once_the_database_is_back(
    app: Flask, caller: Caller, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller.respond(Digits="2")
    db = database(app)
    real = db.sessions
    dead = make_engine("postgresql://hotline@127.0.0.1:9/nowhere", timeout_s=1)
    db.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        caller.record()
    finally:
        db.sessions = real
        dead.dispose()
        db.mark_up()
    with app.app_context():
        durable.spool()._next_replay = 0.0  # no need to wait out the 5 s throttle here
    response = twilio.client.get("/healthz")  # any request; the replay runs after it
    response.close()
    assert case_by_call(db_session, caller.sid) is not None


def test_a_caller_with_an_open_case_hears_of_it_and_its_progress_with_8(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    first = Caller(twilio, settings)
    first.respond(SpeechResult="路灯坏了", Confidence="0.9")
    first.record()
    case = case_by_call(db_session, first.sid)
    assert case is not None

    again = Caller(twilio, settings)  # the same number calls back a day later
    assert said(gather_of(again.root))[0] == ("cmn-CN", "您有一件工单正在办理中，查询进度请按8。")
    root = again.respond(Digits="8")
    text = spoken(root)
    assert "已派至责任单位" in text
    digits = case.number.replace("MS-", "").replace("-", "")
    zh = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
    assert "，".join(zh[d] for d in digits) in text


def test_anyone_can_key_in_a_case_number(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    first = Caller(twilio, settings)
    first.respond(SpeechResult="楼上漏水 物业不管", Confidence="0.9")
    first.record()
    case = case_by_call(db_session, first.sid)
    assert case is not None

    stranger = Caller(twilio, settings, From="+8613912345678")
    assert "工单正在办理中" not in spoken(stranger.root)
    stranger.respond(Digits="8")
    digits = case.number.replace("MS-", "").replace("-", "") + "#"
    root = stranger.respond(Digits=digits)
    assert "已派至责任单位" in spoken(root)
    assert root.find("Hangup") is not None

    other = Caller(twilio, settings, From="+8613912345679")
    other.respond(Digits="8")
    assert "未找到该工单" in spoken(other.respond(Digits="209901010001#"))


def test_a_suspended_provider_is_sent_no_more_cases(
    app: Flask, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    from providers.cli import providers_file
    from providers.service import load_providers, record_complaint, sync_providers

    sync_providers(db_session, load_providers(providers_file(app), settings.default_region))
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    for day in (30, 20, 10):
        record_complaint(
            db_session, "anju_home_services", None, "overcharged", now - dt.timedelta(days=day)
        )
    db_session.commit()
    caller = Caller(twilio, settings)
    caller.respond(SpeechResult="钥匙丢了 进不了门 想找个开锁师傅", Confidence="0.9")
    caller.record()
    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert case.category == "household_services"
    assert case.unit_code == "service_center", "the center takes it, not the suspended provider"
