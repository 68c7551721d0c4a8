"""The units' report-back line: case number, PIN, accept or record the result — by phone."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calls.models import CallEvent
from cases.models import Case
from cases.queries import get_case, timeline
from cases.service import apply, create_case
from cases.workflow import CaseState
from config.settings import Settings
from core.alerts import Alert
from tests.support import TwilioSigner, call_params, gather_of, path_of, said, twiml
from tools.softphone import FlaskTransport, Softphone

PIN = "1005"  # water_supply's demo PIN in config/units.yaml


@pytest.fixture
def number(app: Flask, db_session: Session, settings: Settings) -> str:
    case = create_case(
        db_session,
        call_sid="CA" + "2" * 32,
        category="utilities",
        language="zh",
        caller_number="+8613800138000",
        caller_raw="+8613800138000",
        transcript="停水了",
        tz=settings.tz,
        holidays={},
        now=dt.datetime.now(dt.UTC),
    )
    apply(
        db_session,
        case.number,
        "dispatch",
        actor="dispatcher",
        unit_code="water_supply",
        units=app.extensions["hotline.units"],
    )
    db_session.commit()
    return case.number


class DutyContact:
    def __init__(
        self, twilio: TwilioSigner, settings: Settings, phone: str = "+8613805990701"
    ) -> None:
        self.twilio = twilio
        self.params = call_params(settings, From=phone)
        self.root = twiml(twilio.post("/voice/units/incoming", self.params))

    def key(self, digits: str) -> ET.Element:
        action = gather_of(self.root).get("action") or ""
        self.root = twiml(self.twilio.post(path_of(action), {**self.params, "Digits": digits}))
        return self.root

    def heard(self) -> str:
        return " ".join(text for _, text in said(self.root))


@pytest.fixture
def contact(twilio: TwilioSigner, settings: Settings) -> DutyContact:
    return DutyContact(twilio, settings)


def digits_of(number: str) -> str:
    return number.replace("MS-", "").replace("-", "") + "#"


def test_a_unit_reports_the_result_by_phone(
    contact: DutyContact, twilio: TwilioSigner, number: str, db_session: Session
) -> None:
    assert "十二位工单号" in contact.heard()
    contact.key(digits_of(number))
    assert "密码" in contact.heard()
    contact.key("0000#")
    assert "密码错误" in contact.heard()
    contact.key(PIN + "#")
    assert "待接单" in contact.heard()
    root = contact.key("2")
    record = root.find("Record")
    assert record is not None
    params = {**contact.params, "RecordingSid": "RE" + "b" * 32, "RecordingDuration": "30"}
    done = twiml(twilio.post(path_of(record.get("action") or ""), params))
    assert "已记录办结反馈" in " ".join(t for _, t in said(done))

    case = get_case(db_session, number)
    assert case.state is CaseState.RESOLVED
    assert "RE" + "b" * 32 in (case.feedback or "")
    events = timeline(db_session, case)
    assert [e.action for e in events][-2:] == ["accept", "resolve"]
    assert events[-1].actor == "phone:+8613805990701"


def test_pressing_1_accepts_the_case(
    contact: DutyContact, number: str, db_session: Session
) -> None:
    contact.key(digits_of(number))
    contact.key(PIN + "#")
    contact.key("1")
    assert "已接单" in contact.heard()
    assert get_case(db_session, number).state is CaseState.ACCEPTED


def test_an_unknown_case_number_is_asked_three_times_then_the_call_ends(
    contact: DutyContact, db_session: Session
) -> None:
    contact.key("209912310001#")
    assert "未找到该工单" in contact.heard()
    contact.key("12#")
    root = contact.key("000000000000#")
    assert root.find("Hangup") is not None
    assert db_session.scalar(select(func.count()).select_from(Case)) == 0


def test_three_wrong_pins_end_the_call_and_alert(
    contact: DutyContact, number: str, db_session: Session
) -> None:
    contact.key(digits_of(number))
    contact.key("1111#")
    contact.key("2222#")
    root = contact.key("3333#")
    assert root.find("Hangup") is not None
    assert "错误次数过多" in contact.heard()
    alert = db_session.scalars(select(Alert).where(Alert.kind == "unit-pin")).one()
    assert "water_supply" in alert.message
    assert alert.priority == 2
    assert get_case(db_session, number).state is CaseState.DISPATCHED, "nothing changed"


def test_a_step_after_the_pin_cannot_be_reached_from_another_call(
    twilio: TwilioSigner, settings: Settings, number: str, db_session: Session
) -> None:
    other = call_params(settings, Digits="1")
    path = f"/voice/units/act?case={number}&call={'CA' + 'f' * 32}"
    assert twilio.post(path, other).status_code == 403
    assert get_case(db_session, number).state is CaseState.DISPATCHED


def test_pins_are_never_logged_and_a_guessing_number_is_stopped_not_the_unit(
    twilio: TwilioSigner, settings: Settings, number: str, db_session: Session
) -> None:
    guesser = "+8613900000666"
    for _ in range(4):  # up to three tries a call, until that number is stopped
        caller = DutyContact(twilio, settings, guesser)
        caller.key(digits_of(number))
        while caller.root.find("Gather") is not None:
            caller.key("9999#")
    logged = db_session.scalars(
        select(CallEvent.params).where(CallEvent.route == "/voice/units/pin")
    )
    assert all(p.get("Digits") == "***" for p in logged)

    again = DutyContact(twilio, settings, guesser)
    again.key(digits_of(number))
    again.key(PIN + "#")  # even the right PIN, from the guessing number, for now
    assert "暂时不能反馈" in again.heard()
    assert get_case(db_session, number).state is CaseState.DISPATCHED

    honest = DutyContact(twilio, settings)  # the unit's own phone is not locked out by others
    honest.key(digits_of(number))
    honest.key(PIN + "#")
    assert "待接单" in honest.heard()


def test_a_reopened_case_is_not_offered_for_feedback(
    app: Flask, contact: DutyContact, number: str, db_session: Session, settings: Settings
) -> None:
    units = app.extensions["hotline.units"]
    for action, note in (("accept", ""), ("resolve", "修好了"), ("reopen", "没修好")):
        apply(
            db_session,
            number,
            action,
            actor="t",
            note=note,
            units=units,
            tz=settings.tz,
            holidays={},
        )
    db_session.commit()
    contact.key(digits_of(number))
    root = contact.key(PIN + "#")
    assert "不需要单位反馈" in contact.heard()
    assert root.find("Record") is None


def following_record(root: ET.Element) -> list[tuple[str, str]]:
    """The verbs after <Record> (what an empty recording runs), as (tag, text)."""
    tags = [el.tag for el in root]
    assert "Record" in tags, ET.tostring(root, encoding="unicode")
    return [(el.tag, (el.text or "").strip()) for el in list(root)[tags.index("Record") + 1 :]]


def test_an_empty_result_recording_is_said_asked_again_then_goes_to_the_desk(
    contact: DutyContact, twilio: TwilioSigner, settings: Settings, number: str
) -> None:
    contact.key(digits_of(number))
    contact.key(PIN + "#")
    first = contact.key("2")
    (say, redirect) = following_record(first)
    assert say == ("Say", "我们没有听到您的声音。")
    assert redirect[0] == "Redirect" and "/voice/units/report?" in redirect[1]
    assert "try=1" in redirect[1]

    second = twiml(twilio.post(path_of(redirect[1]), contact.params))
    assert "请在提示音后说明办理结果" in " ".join(t for _, t in said(second))
    (say, redirect) = following_record(second)
    assert say == ("Say", "我们没有听到您的声音。")
    assert "/voice/units/desk?" in redirect[1]

    desk = twiml(twilio.post(path_of(redirect[1]), contact.params))
    assert "正在为您转接人工服务" in " ".join(t for _, t in said(desk))
    dial = desk.find("Dial")
    assert dial is not None
    assert [(n.text or "").strip() for n in dial.iter("Number")] == [settings.service_desk_number]


def test_the_second_chance_belongs_to_the_same_call(
    twilio: TwilioSigner, settings: Settings, number: str
) -> None:
    other = call_params(settings)
    for step in ("report", "desk"):
        path = f"/voice/units/{step}?case={number}&call={'CA' + 'f' * 32}&try=1"
        assert twilio.post(path, other).status_code == 403


def test_a_contact_who_records_nothing_twice_reaches_a_person_not_silence(
    app: Flask, settings: Settings, number: str, db_session: Session
) -> None:
    phone = Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=settings.public_base_url,
        auth_token=settings.twilio_auth_token,
        account_sid=settings.twilio_account_sid,
        from_number="+8613805990701",
        to_number="+865996110111",
        inputs=[digits_of(number), PIN + "#", "2", "silence", "silence", "dial:completed"],
        output_func=lambda line: None,
        incoming_path="/voice/units/incoming",
    )
    result = phone.run()
    heard = "\n".join(result.transcript)

    assert result.exit_code == 0, heard
    assert heard.count("我们没有听到您的声音。") == 2
    assert f"dialing {settings.service_desk_number}" in heard
    assert result.ended_how != "end-of-document", "never a silent hang-up"
    assert get_case(db_session, number).state is CaseState.DISPATCHED, "nothing recorded"


def test_a_result_recorded_on_the_second_chance_resolves_the_case(
    app: Flask, settings: Settings, number: str, db_session: Session
) -> None:
    phone = Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=settings.public_base_url,
        auth_token=settings.twilio_auth_token,
        account_sid=settings.twilio_account_sid,
        from_number="+8613805990701",
        to_number="+865996110111",
        inputs=[digits_of(number), PIN + "#", "2", "silence", "say:水管已经修好，恢复供水"],
        output_func=lambda line: None,
        incoming_path="/voice/units/incoming",
    )
    result = phone.run()
    assert result.exit_code == 0, "\n".join(result.transcript)
    assert get_case(db_session, number).state is CaseState.RESOLVED


def _resolve_by_phone(contact: DutyContact, twilio: TwilioSigner, number: str) -> dict[str, str]:
    """The contact records the result; returns the result request as Twilio posted it."""
    contact.key(digits_of(number))
    contact.key(PIN + "#")
    record = contact.key("2").find("Record")
    assert record is not None
    request = {
        "path": path_of(record.get("action") or ""),
        **contact.params,
        "RecordingSid": "RE" + "c" * 32,
        "RecordingDuration": "30",
    }
    path = request.pop("path")
    twiml(twilio.post(path, request))
    return {"path": path, **request}


def test_a_replayed_result_after_the_case_was_reopened_changes_nothing(
    app: Flask, contact: DutyContact, twilio: TwilioSigner, number: str, db_session: Session
) -> None:
    captured = _resolve_by_phone(contact, twilio, number)
    assert get_case(db_session, number).state is CaseState.RESOLVED
    apply(
        db_session,
        number,
        "reopen",
        actor="supervisor",
        note="caller unsatisfied",
        tz=contact.twilio.settings.tz,
        holidays={},
    )
    apply(
        db_session,
        number,
        "dispatch",
        actor="dispatcher",
        unit_code="water_supply",
        units=app.extensions["hotline.units"],
    )
    db_session.commit()
    events_before = len(timeline(db_session, get_case(db_session, number)))

    path = captured.pop("path")
    again = twiml(twilio.post(path, captured))  # the same signed request, sent again

    assert again.find("Hangup") is not None
    db_session.expire_all()
    case = get_case(db_session, number)
    assert case.state is CaseState.DISPATCHED, "no PIN, no call: the replay resolves nothing"
    assert len(timeline(db_session, case)) == events_before


def test_a_unit_that_hangs_up_after_recording_still_gets_its_result_in(
    contact: DutyContact, twilio: TwilioSigner, number: str, db_session: Session
) -> None:
    contact.key(digits_of(number))
    contact.key(PIN + "#")
    record = contact.key("2").find("Record")
    assert record is not None
    ended = {**contact.params, "CallStatus": "completed", "CallDuration": "60"}
    assert twilio.post("/voice/status", ended).status_code < 300
    params = {**ended, "RecordingSid": "RE" + "d" * 32, "RecordingDuration": "30"}
    twiml(twilio.post(path_of(record.get("action") or ""), params))
    db_session.expire_all()
    assert get_case(db_session, number).state is CaseState.RESOLVED


def test_a_replayed_key_press_of_an_ended_call_changes_nothing(
    contact: DutyContact, twilio: TwilioSigner, number: str, db_session: Session
) -> None:
    contact.key(digits_of(number))
    contact.key(PIN + "#")
    action = gather_of(contact.root).get("action") or ""
    ended = {**contact.params, "CallStatus": "completed", "CallDuration": "40"}
    twilio.post("/voice/status", ended)

    root = twiml(twilio.post(path_of(action), {**contact.params, "Digits": "1"}))

    assert "通话已结束" in " ".join(t for _, t in said(root))
    db_session.expire_all()
    assert get_case(db_session, number).state is CaseState.DISPATCHED
