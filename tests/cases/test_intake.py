"""A service call end to end: IVR → recording → case with number, SMS, dispatch."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.capture import case_taken
from cases.models import Case
from cases.queries import case_by_call, timeline
from cases.service import apply
from cases.workflow import CaseState
from config.settings import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, Settings
from core import durable, jobs, twilio_rest
from core.db import database, make_engine
from core.jobs import Job
from core.models import SmsMessage
from providers.cli import providers_file
from providers.complaints import record_complaint
from providers.contracts import load_providers
from providers.service import sync_providers
from tests.support import (
    CALLER,
    TwilioSigner,
    call_params,
    gather_of,
    make_settings,
    new_call_sid,
    path_of,
    said,
    twiml,
)
from tools.softphone import CallResult, FlaskTransport, Softphone

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
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    """Twilio's REST API is configured (at an address nobody answers: jobs run only when a test
    runs them, against its own stand-in)."""
    return make_settings(migrated_url, tmp_path, twilio_api_base_url="http://127.0.0.1:9")


@pytest.fixture
def caller(twilio: TwilioSigner, settings: Settings) -> Caller:
    return Caller(twilio, settings)


def texts_of(db_session: Session, case_number: str) -> dict[str, SmsMessage]:
    """The case's text messages by purpose (case-received, case-dispatch…)."""
    db_session.expire_all()
    rows = db_session.scalars(select(SmsMessage).where(SmsMessage.case_number == case_number))
    return {row.key.split(":")[0]: row for row in rows}


def softphone(app: Flask, settings: Settings, *inputs: str, **extra: str) -> CallResult:
    """A call through the softphone (Twilio's behaviour, empty recordings included)."""
    phone = Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=settings.public_base_url,
        auth_token=settings.twilio_auth_token,
        account_sid=settings.twilio_account_sid,
        from_number=extra.get("from_number", CALLER),
        to_number=settings.hotline_number,
        inputs=list(inputs),
        output_func=lambda line: None,
    )
    result = phone.run()
    assert result.exit_code == 0, "\n".join(result.transcript)
    return result


def heard_in(result: CallResult) -> str:
    return "\n".join(result.transcript)


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
    assert "您的工单号是" in text
    zh = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
    assert text.count("，".join(zh[d] for d in digits)) == 2, "read digit by digit, twice"
    assert "工单号稍后将通过短信发送给您。" in text, "queued: it will be sent"
    assert "已通过短信" not in text, "never 'has been sent': it goes out later, maybe never"
    assert "查询办理进度，请拨打本热线后按8。" in text
    assert [el.tag for el in root][-1] == "Hangup"

    jobs_by_purpose = {
        job.key.split(":")[0]: job.payload
        for job in db_session.scalars(select(Job).where(Job.kind == "sms.send"))
    }
    assert jobs_by_purpose["case-received"]["to"] == "+8613800138000"
    assert case.number in jobs_by_purpose["case-received"]["body"]
    received = texts_of(db_session, case.number)["case-received"]
    assert (received.status, received.to_number) == ("pending", "+8613800138000")
    unit = app.extensions["hotline.units"]["city_management"]
    dispatch = jobs_by_purpose["case-dispatch"]
    assert dispatch["to"] == unit.duty_contact, "the unit's duty contact is told"
    assert case.number in dispatch["body"]


def test_without_twilio_no_text_is_promised(
    app: Flask, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    bare = dataclasses.replace(
        settings,
        twilio_api_base_url=None,
        twilio_account_sid=DEV_ACCOUNT_SID,
        twilio_auth_token=DEV_AUTH_TOKEN,
    )
    assert not twilio_rest.configured(bare), "the placeholders, and no API: nowhere to send"
    app.extensions["hotline.settings"] = bare
    caller = Caller(TwilioSigner(twilio.client, bare), bare)
    caller.respond(SpeechResult="路灯坏了一个月没人修", Confidence="0.9")
    text = spoken(caller.record())

    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert "短信" not in text, "nothing was queued: no text is promised"
    assert "请记下工单号。" in text and "按8" in text
    assert texts_of(db_session, case.number)["case-received"].status == "refused"
    assert db_session.scalars(select(Job.key).where(Job.kind == "sms.send")).all() == []


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


def following_record(root: ET.Element) -> list[tuple[str, str]]:
    """The verbs after <Record> (what an empty recording runs), as (tag, text)."""
    tags = [el.tag for el in root]
    assert "Record" in tags, ET.tostring(root, encoding="unicode")
    after = list(root)[tags.index("Record") + 1 :]
    return [(el.tag, (el.text or "").strip()) for el in after]


def test_an_empty_recording_is_said_and_asked_once_more_then_a_person_takes_it(
    caller: Caller, settings: Settings, twilio: TwilioSigner, db_session: Session
) -> None:
    first = caller.respond(Digits="2")
    (say, redirect) = following_record(first)
    assert say == ("Say", "我们没有听到您的声音。")
    assert redirect[0] == "Redirect" and "/voice/cases/details?lang=zh&try=1" in redirect[1]

    # Twilio skips the action of an empty recording and follows the <Redirect>.
    second = twiml(twilio.post(path_of(redirect[1]), caller.params))
    assert "请在提示音后说出具体地点和事情经过" in spoken(second), "the second chance"
    (say, redirect) = following_record(second)
    assert say == ("Say", "我们没有听到您的声音。")
    assert redirect[0] == "Redirect" and "nothing=1" in redirect[1], "no third chance"

    third = twiml(twilio.post(path_of(redirect[1]), caller.params))
    assert "正在为您转接人工服务" in spoken(third)
    dial = third.find("Dial")
    assert dial is not None
    assert [(n.text or "").strip() for n in dial.iter("Number")] == [settings.service_desk_number]
    assert case_by_call(db_session, caller.sid) is None


def test_a_caller_who_says_nothing_twice_is_put_through_to_the_desk(
    app: Flask, settings: Settings, db_session: Session
) -> None:
    result = softphone(app, settings, "2", "silence", "silence", "dial:completed")
    heard = heard_in(result)
    assert heard.count("我们没有听到您的声音。") == 2
    assert heard.count("请在提示音后说出具体地点和事情经过") == 2
    assert "已收到" not in heard and "工单号" not in heard, "nothing said that isn't true"
    assert f"dialing {settings.service_desk_number}" in heard
    assert case_by_call(db_session, result.call_sid) is None


def test_a_caller_who_speaks_on_the_second_chance_gets_a_case(
    app: Flask, settings: Settings, db_session: Session
) -> None:
    result = softphone(app, settings, "2", "silence", "say:人民路和中山路路口的路灯不亮")
    case = case_by_call(db_session, result.call_sid)
    assert case is not None and case.recording_sid is not None
    heard = heard_in(result)
    assert heard.count("我们没有听到您的声音。") == 1
    assert "您的工单号是" in heard


def test_speech_at_the_front_door_and_two_empty_recordings_go_to_a_person(
    caller: Caller, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    caller.respond(SpeechResult="路灯坏了", Confidence="0.9")
    _, redirect = following_record(caller.root)
    second = twiml(twilio.post(path_of(redirect[1]), caller.params))
    _, redirect = following_record(second)
    third = twiml(twilio.post(path_of(redirect[1]), caller.params))
    assert third.find("Dial") is not None, "a person asks where and what"
    assert case_by_call(db_session, caller.sid) is None


def test_a_landline_caller_is_told_to_note_the_number(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    landline = Caller(twilio, settings, From="+865996123456")
    landline.respond(SpeechResult="楼下垃圾堆了一个星期没人清", Confidence="0.9")
    root = landline.record()
    assert "请记下工单号" in spoken(root) and "短信" not in spoken(root)
    assert "查询办理进度，请拨打本热线后按8。" in spoken(root)
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
                sid = f"SM{len(fake.posts):032x}"  # a new SID per message, as Twilio gives
                reply = json.dumps({"sid": sid, "status": "queued"}).encode()
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
    received = texts_of(db_session, case.number)["case-received"]
    assert form["StatusCallback"] == [
        f"https://hotline.example.org/voice/sms-status?m={received.id}"
    ]
    assert received.status == "queued"
    assert received.message_sid is not None and received.message_sid.startswith("SM")


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
    text = spoken(root)
    assert "我们已记录下您反映的事项" in text
    assert "回电" not in text, "nobody calls back: nobody says so"
    assert "工单号稍后将通过短信发送给您" in text and "按8" in text
    assert case_by_call(db_session, caller.sid) is None
    with app.app_context():
        durable.spool().replay(db.sessions, durable.HANDLERS)
    case = case_by_call(db_session, caller.sid)
    assert case is not None
    assert case.recording_sid is not None
    assert case.state is CaseState.DISPATCHED


def test_two_empty_recordings_while_the_database_is_down_go_to_a_person(
    app: Flask, caller: Caller, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    first = caller.respond(Digits="2")
    _, redirect = following_record(first)
    second = twiml(twilio.post(path_of(redirect[1]), caller.params))
    _, redirect = following_record(second)
    db = database(app)
    real = db.sessions
    dead = make_engine("postgresql://hotline@127.0.0.1:9/nowhere", timeout_s=1)
    db.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        third = twiml(twilio.post(path_of(redirect[1]), caller.params))
    finally:
        db.sessions = real
        dead.dispose()
        db.mark_up()
    assert "我们已记录" not in spoken(third), "nothing was recorded"
    assert third.find("Dial") is not None
    with app.app_context():
        durable.spool().replay(db.sessions, durable.HANDLERS)
    assert case_by_call(db_session, caller.sid) is None, "no empty case from the spool"


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


def test_key_8_tells_a_resolved_case_its_number_and_state(
    app: Flask, twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    first = Caller(twilio, settings)
    first.respond(SpeechResult="路灯坏了", Confidence="0.9")
    first.record()
    case = case_by_call(db_session, first.sid)
    assert case is not None
    for action, note in (("accept", ""), ("resolve", "已更换灯泡")):
        apply(db_session, case.number, action, actor="t", note=note)
    db_session.commit()

    again = Caller(twilio, settings)
    assert "工单正在办理中" not in spoken(again.root), "no longer open: not announced"
    text = spoken(again.respond(Digits="8"))
    digits = case.number.replace("MS-", "").replace("-", "")
    zh = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
    assert f"工单M S，{'，'.join(zh[d] for d in digits)}，已办结，等待回访。" in text
    assert "办理时限" not in text


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
    sync_providers(db_session, load_providers(providers_file(app), settings.default_region))
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


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("queued", [True, False])
def test_what_the_caller_is_told_at_the_end_is_true(language: str, queued: bool) -> None:
    root = ET.fromstring(str(case_taken("MS-20261201-0042", language, sms=queued)))  # noqa: S314
    text = spoken(root)
    number = (
        "M S, 2, 0, 2, 6, 1, 2, 0, 1, 0, 0, 4, 2" if language == "en" else "M S，二，零，二，六"
    )
    assert text.count(number) == 2, "the number, twice"
    will = "We will also send it to you by text message" if language == "en" else "稍后将通过短信"
    assert (will in text) is queued
    assert "has been sent" not in text and "已通过短信" not in text and "We have sent" not in text
    eight = "call this hotline and press 8" if language == "en" else "请拨打本热线后按8"
    assert eight in text
    assert [el.tag for el in root][-1] == "Hangup"
