"""Officer legs as Twilio runs them: the whisper's keys, errors on the leg, carriers, caller ID.

Twilio's PSTN does not reach Mainland China, so a real deployment rings officers through its own
carrier (a BYOC trunk, or SIP to a local gateway); each leg's TwiML must be valid where Twilio
runs it (no <Dial> in a <Number url> document).
"""

from __future__ import annotations

import copy
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from config.settings import CallerIdPolicy, Settings, SettingsError
from core.db import database
from ivr.twiml import apology
from routing import store
from routing.roster import RosterError
from routing.rosterfile import parse_roster
from tests.support import (
    TwilioSigner,
    app_in_transaction,
    call_params,
    gather_of,
    new_call_sid,
    path_of,
    said,
    twiml,
)
from tests.support.routing import POLICE, ROSTER, BridgeCall, dial

BYOC = "BY" + "0123456789abcdef" * 2
SIP_OFFICER = "sip:p9@pbx.shaowu.example.cn;transport=tls"


def _roster_with_sip_officer() -> dict[str, Any]:
    roster: dict[str, Any] = copy.deepcopy(ROSTER)
    roster["officers"][0]["phone"] = SIP_OFFICER
    return roster


@pytest.fixture
def sip_roster(app: Flask, db_session: Session, settings: Settings) -> None:
    store.save_roster(db_session, parse_roster(_roster_with_sip_officer(), settings.default_region))
    db_session.commit()


@pytest.fixture
def roster(app: Flask, db_session: Session, settings: Settings) -> None:
    store.save_roster(db_session, parse_roster(ROSTER, settings.default_region))
    db_session.commit()


def _app_with(settings: Settings, **changes: object) -> Iterator[Flask]:
    with app_in_transaction(dataclasses.replace(settings, **changes)) as app:  # type: ignore[arg-type]
        yield app


def _officer_leg(caller: BridgeCall, to: str) -> dict[str, str]:
    return call_params(
        caller.settings,
        CallSid=new_call_sid(),
        ParentCallSid=caller.sid,
        Direction="outbound-dial",
        From=caller.settings.hotline_number,
        To=to,
        CallStatus="in-progress",
    )


def _whisper_of(
    caller: BridgeCall, element: ET.Element, to: str
) -> tuple[ET.Element, dict[str, str]]:
    leg = _officer_leg(caller, to)
    return twiml(caller.twilio.post(path_of(element.get("url") or ""), leg)), leg


# -- the whisper ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("roster")
def test_the_whisper_takes_any_key_including_the_pound_key(caller: BridgeCall) -> None:
    caller.respond(Digits="1")
    number = dial(caller.root).find("Number")
    assert number is not None
    whisper, leg = _whisper_of(caller, number, POLICE[0])
    gather = gather_of(whisper)
    assert gather.get("finishOnKey") == "", "with the default '#', a lone # submits nothing"
    accepted = twiml(
        caller.twilio.post(path_of(gather.get("action") or ""), {**leg, "Digits": "#"})
    )
    assert accepted.find("Hangup") is None, "the officer who pressed # is bridged"


@pytest.mark.usefixtures("roster")
def test_a_failing_whisper_still_screens_and_never_dials(
    caller: BridgeCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller.respond(Digits="1")
    number = dial(caller.root).find("Number")
    assert number is not None

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the whisper")

    monkeypatch.setattr("routing.bridge.screen", broken)
    whisper, leg = _whisper_of(caller, number, POLICE[0])
    assert whisper.find(".//Dial") is None, "<Dial> is forbidden in a <Number url> document"
    assert [el.tag for el in whisper] == ["Gather", "Hangup"]
    gather = gather_of(whisper)
    assert gather.get("finishOnKey") == ""
    assert path_of(gather.get("action") or "").startswith("/voice/route/accept?")
    assert said(gather) == [("cmn-CN", "民生110来电，按任意键接听。")]
    monkeypatch.undo()
    accepted = twiml(
        caller.twilio.post(path_of(gather.get("action") or ""), {**leg, "Digits": "3"})
    )
    assert accepted.find("Hangup") is None, "the generic whisper's accept URL is the real one"


@pytest.mark.usefixtures("roster")
@pytest.mark.parametrize(("digits", "bridged"), [("7", True), (None, False)])
def test_a_failing_accept_bridges_an_officer_who_pressed_and_hangs_up_otherwise(
    caller: BridgeCall, monkeypatch: pytest.MonkeyPatch, digits: str | None, bridged: bool
) -> None:
    caller.respond(Digits="1")
    number = dial(caller.root).find("Number")
    assert number is not None
    whisper, leg = _whisper_of(caller, number, POLICE[0])
    action = path_of(gather_of(whisper).get("action") or "")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("routing.views.accept_call_durably", broken)
    answer = {**leg, "Digits": digits} if digits else leg
    root = twiml(caller.twilio.post(action, answer))
    assert root.find(".//Dial") is None
    assert (root.find("Hangup") is None) is bridged


# -- carriers ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sip_roster")
def test_an_officer_with_a_sip_address_is_rung_over_sip_and_screened(
    caller: BridgeCall, db_session: Session
) -> None:
    caller.respond(Digits="1")
    d = dial(caller.root)
    sips = d.findall("Sip")
    assert [(s.text or "").strip() for s in sips] == [SIP_OFFICER]
    assert [(n.text or "").strip() for n in d.findall("Number")] == POLICE[1:]
    whisper, leg = _whisper_of(caller, sips[0], SIP_OFFICER)
    gather = gather_of(whisper)
    twiml(caller.twilio.post(path_of(gather.get("action") or ""), {**leg, "Digits": "1"}))
    (attempt,) = store.attempts(db_session, caller.sid)
    assert attempt.answered_phone == SIP_OFFICER, "a SIP URI is stored whole"


def test_the_roster_refuses_a_malformed_sip_address(settings: Settings) -> None:
    roster = _roster_with_sip_officer()
    roster["officers"][0]["phone"] = "sip:nobody"
    with pytest.raises(RosterError, match=r"officers\[0\] \(P1 民警1\): phone: not a SIP URI"):
        parse_roster(roster, settings.default_region)


def test_a_byoc_trunk_carries_every_number_leg_and_the_hotline_number_is_the_caller_id(
    settings: Settings,
) -> None:
    for app in _app_with(settings, twilio_byoc_trunk_sid=BYOC):
        _store_roster(app, ROSTER)
        caller = BridgeCall(
            TwilioSigner(app.test_client(), app.extensions["hotline.settings"]), settings
        )
        d = dial(caller.respond(Digits="1"))
        assert {n.get("byoc") for n in d.iter("Number")} == {BYOC}
        assert d.get("callerId") == settings.hotline_number


def test_the_caller_id_policy_can_pass_the_callers_number_through(settings: Settings) -> None:
    for app in _app_with(settings, caller_id_policy=CallerIdPolicy.CALLER):
        _store_roster(app, ROSTER)
        caller = BridgeCall(
            TwilioSigner(app.test_client(), app.extensions["hotline.settings"]), settings
        )
        d = dial(caller.respond(Digits="1"))
        assert d.get("callerId") == caller.params["From"]
        withheld = BridgeCall(TwilioSigner(app.test_client(), settings), settings)
        withheld.params["From"] = withheld.params["Caller"] = "anonymous"
        assert dial(withheld.respond(Digits="1")).get("callerId") == settings.hotline_number


def test_an_unscreened_last_resort_is_dialled_without_a_whisper_and_counts_as_answered(
    settings: Settings,
) -> None:
    for app in _app_with(settings, fallback_unscreened=True):
        _store_roster(app, ROSTER)
        caller = BridgeCall(
            TwilioSigner(app.test_client(), app.extensions["hotline.settings"]), settings
        )
        caller.respond(Digits="1")
        last = caller.dial_ends("no-answer")
        (number,) = dial(last).iter("Number")
        assert (number.text, number.get("url")) == (settings.fallback_number, None)
        done = caller.dial_ends("completed", DialCallDuration="30")
        assert [el.tag for el in done] == ["Hangup"], "the dispatch system took the call"


def test_settings_take_sip_last_resorts_and_refuse_bad_sids(settings: Settings) -> None:
    sip = dataclasses.replace(settings, fallback_number="sip:110@gw.example.cn")
    assert sip.fallback_number == "sip:110@gw.example.cn"
    with pytest.raises(SettingsError, match="TWILIO_BYOC_TRUNK_SID"):
        dataclasses.replace(settings, twilio_byoc_trunk_sid="BY123")
    with pytest.raises(SettingsError, match="FALLBACK_NUMBER"):
        dataclasses.replace(settings, fallback_number="sip:nobody")


def test_the_apology_reaches_a_sip_last_resort_through_sip(settings: Settings) -> None:
    document = str(apology(dataclasses.replace(settings, fallback_number="sip:110@gw.cn")))
    root = ET.fromstring(document)  # noqa: S314 (our own output)
    d = root.find("Dial")
    assert d is not None
    assert [(s.text or "") for s in d.findall("Sip")] == ["sip:110@gw.cn"]
    assert d.get("callerId") == settings.hotline_number


# -- empty recordings ------------------------------------------------------------------------------


@pytest.mark.usefixtures("roster")
def test_what_follows_the_emergency_message_is_true_for_a_caller_who_said_nothing(
    caller: BridgeCall, settings: Settings
) -> None:
    caller.respond(Digits="1")
    caller.dial_ends("no-answer")
    root = caller.dial_ends("failed")
    tags = [el.tag for el in root]
    after = tags[tags.index("Record") + 1 :]
    assert after == ["Say", "Hangup"], "Twilio runs these when the recording is empty"
    spoken = said(root)[-1][1]
    assert "没有听到" in spoken
    assert "已收到" not in spoken


def _store_roster(app: Flask, raw: Mapping[str, Any]) -> None:
    settings: Settings = app.extensions["hotline.settings"]
    with database(app).sessions() as session:
        store.save_roster(session, parse_roster(raw, settings.default_region))
        session.commit()


@pytest.fixture
def caller(twilio: TwilioSigner, settings: Settings) -> BridgeCall:
    return BridgeCall(twilio, settings)
