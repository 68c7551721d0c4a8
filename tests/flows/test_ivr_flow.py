"""Whole calls through the front door: keys, speech, silence, retries — what the caller hears."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from calls.service import get_call
from config.settings import Settings
from core.categories import Kind
from ivr import service
from tests.support import (
    TwilioSigner,
    call_params,
    dialed_numbers,
    gather_of,
    path_of,
    said,
    twiml,
)


@dataclass
class Caller:
    """A caller on the line: remembers the call's parameters and the last thing heard."""

    twilio: TwilioSigner
    settings: Settings
    params: dict[str, str] = field(default_factory=dict)
    heard: ET.Element | None = None

    def dial_in(self) -> ET.Element:
        self.params = call_params(self.settings)
        self.heard = twiml(self.twilio.post("/voice/incoming", self.params))
        return self.heard

    def respond(self, **extra: str) -> ET.Element:
        """Answer the current Gather (press keys, speak, or stay silent with no extra)."""
        assert self.heard is not None
        action = gather_of(self.heard).get("action")
        assert action is not None
        params = {**self.params, "CallStatus": "in-progress", **extra}
        self.heard = twiml(self.twilio.post(path_of(action), params))
        return self.heard

    def press(self, digits: str) -> ET.Element:
        return self.respond(Digits=digits)

    def say(self, text: str, confidence: str = "0.92") -> ET.Element:
        return self.respond(SpeechResult=text, Confidence=confidence)

    @property
    def sid(self) -> str:
        return self.params["CallSid"]


@pytest.fixture
def caller(twilio: TwilioSigner, settings: Settings) -> Caller:
    return Caller(twilio, settings)


def is_emergency_handover(root: ET.Element, settings: Settings) -> bool:
    return dialed_numbers(root)[0] == settings.fallback_number and any(
        "值班民警" in text or "officer on duty" in text for _, text in said(root)
    )


def test_the_front_door_listens_to_keys_and_speech_while_it_speaks(
    caller: Caller, settings: Settings
) -> None:
    gather = gather_of(caller.dial_in())
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "cmn-Hans-CN", "Twilio's <Gather> has no zh-CN"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == settings.public_url("/voice/ivr/gather?step=0")
    assert [lang for lang, _ in said(gather)] == ["cmn-CN", "en-US"], "prompt is inside Gather"
    redirect = caller.heard.find("Redirect") if caller.heard is not None else None
    assert redirect is not None and redirect.text == gather.get("action")


def test_key_1_goes_straight_to_the_emergency_branch(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    root = caller.press("1")

    assert is_emergency_handover(root, settings)
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None
    assert (ivr.branch, ivr.reason, ivr.digits) == ("emergency", "key 1", "1")
    assert ivr.handed_over_at is not None


def test_key_2_asks_for_the_request_after_a_beep(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    root = caller.press("2")
    record = root.find("Record")
    assert record is not None
    assert record.get("action") == settings.public_url("/voice/cases/recorded?lang=zh")
    assert any("井号键" in text for _, text in said(root))
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None and ivr.branch == "service"


def test_key_0_goes_to_the_desk(caller: Caller, settings: Settings, db_session: Session) -> None:
    caller.dial_in()
    assert dialed_numbers(caller.press("0")) == [settings.service_desk_number]
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None and ivr.branch == "desk"


def test_key_9_switches_the_same_tree_to_english(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    gather = gather_of(caller.press("9"))
    assert gather.get("language") == "en-US"
    assert [lang for lang, _ in said(gather)] == ["en-US"]
    assert "For an emergency press 1" in said(gather)[0][1]
    call = get_call(db_session, caller.sid)
    assert call is not None and call.language == "en"

    root = caller.press("1")
    assert ("en-US", "Connecting you to the officer on duty. Please stay on the line.") in said(
        root
    )


def test_speech_about_a_fire_is_an_emergency(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    root = caller.say("喂 我家着火了 快来人啊")
    assert is_emergency_handover(root, settings)
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None
    assert (ivr.kind, ivr.category, ivr.branch) == (Kind.EMERGENCY, "fire", "emergency")
    assert ivr.utterances[0]["text"] == "喂 我家着火了 快来人啊"
    assert ivr.utterances[0]["confidence"] == pytest.approx(0.92)


def test_an_emergency_is_never_re_asked_even_at_low_confidence(
    caller: Caller, settings: Settings
) -> None:
    caller.dial_in()
    assert is_emergency_handover(caller.say("有人晕倒了", confidence="0.05"), settings)


def test_a_broken_street_light_is_a_service_request(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    root = caller.say("路灯坏了一个月没人修")
    assert root.find("Record") is not None, "the caller is asked for details, then a case opens"
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None
    assert (ivr.kind, ivr.category, ivr.branch) == (Kind.SERVICE, "city_management", "service")


def test_low_confidence_speech_goes_to_a_person_at_once(
    caller: Caller, settings: Settings, db_session: Session
) -> None:
    caller.dial_in()
    root = caller.say("路灯坏了", confidence="0.2")
    assert root.find("Gather") is None, "no second question first"
    assert any("值班人员" in text for _, text in said(root))
    # No roster in this test: the doubtful caller reaches the emergency last resort, never the
    # service desk's line (tests/flows/test_routing_flow.py rings the desk's people first).
    assert dialed_numbers(root) == [settings.fallback_number]
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None
    assert ivr.branch == "doubt"
    assert [u["text"] for u in ivr.utterances] == ["路灯坏了"], "nothing dropped"


def test_speech_nobody_understands_goes_to_a_person_at_once(
    caller: Caller, settings: Settings
) -> None:
    caller.dial_in()
    root = caller.say("嗯 那个 就是 怎么说呢")
    assert root.find("Gather") is None
    assert dialed_numbers(root) == [settings.fallback_number]
    assert settings.fallback_number != settings.service_desk_number


def test_silence_gets_one_re_prompt_then_a_person(caller: Caller, settings: Settings) -> None:
    caller.dial_in()
    reprompt = gather_of(caller.respond())
    assert any("请说出您遇到的事情" in text for _, text in said(reprompt))
    root = caller.respond()
    assert root.find("Gather") is None
    assert dialed_numbers(root) == [settings.fallback_number]
    assert root.find("Hangup") is None, "the IVR never hangs up on a caller"


@pytest.mark.parametrize("words", ["转人工", "I want to talk to an operator"])
def test_asking_for_a_person_goes_to_the_desk(
    caller: Caller, settings: Settings, db_session: Session, words: str
) -> None:
    caller.dial_in()
    root = caller.say(words)
    assert dialed_numbers(root) == [settings.service_desk_number]
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None and ivr.branch == "desk"


def test_an_unknown_key_is_re_asked(caller: Caller) -> None:
    caller.dial_in()
    again = gather_of(caller.press("5"))
    assert any("没有听清楚" in text for _, text in said(again))


def test_a_retried_gather_webhook_does_not_advance_the_call_twice(
    caller: Caller, twilio: TwilioSigner, db_session: Session
) -> None:
    caller.dial_in()
    assert caller.heard is not None
    action = path_of(gather_of(caller.heard).get("action") or "")
    params = {**caller.params, "CallStatus": "in-progress"}
    first = twilio.post(action, params)  # silence: re-prompt, step 0 → 1
    retry = twilio.post(action, params)  # Twilio retries the same webhook

    assert first.get_data() == retry.get_data()
    ivr = service.get(db_session, caller.sid)
    assert ivr is not None
    assert (ivr.step, ivr.no_input_count) == (1, 1), "the retry did not count a second silence"


def test_a_retried_incoming_webhook_gets_the_same_answer(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    first = twilio.post("/voice/incoming", params)
    second = twilio.post("/voice/incoming", params)
    assert first.get_data() == second.get_data()
    ivr = service.get(db_session, params["CallSid"])
    assert ivr is not None and ivr.step == 0


def test_a_stale_gather_repeats_the_newest_answer(caller: Caller, twilio: TwilioSigner) -> None:
    caller.dial_in()
    assert caller.heard is not None
    stale_action = path_of(gather_of(caller.heard).get("action") or "")
    newest = caller.press("9")
    late = twiml(twilio.post(stale_action, {**caller.params, "Digits": "1"}))
    assert ET.tostring(late) == ET.tostring(newest), "a late key press does not act twice"


def test_a_call_whose_state_was_lost_starts_over_safely(
    twilio: TwilioSigner, settings: Settings
) -> None:
    params = call_params(settings, CallStatus="in-progress", Digits="1")
    root = twiml(twilio.post("/voice/ivr/gather?step=0", params))
    assert dialed_numbers(root) == [settings.fallback_number]


@pytest.mark.parametrize(
    "path",
    [
        "/voice/ivr/gather",
        "/voice/ivr/gather?step=-1",
        "/voice/ivr/gather?step=abc",
        "/voice/ivr/gather?step=99999999999",
    ],
)
def test_malformed_ivr_urls_are_refused(
    twilio: TwilioSigner, settings: Settings, path: str
) -> None:
    response = twilio.post(path, call_params(settings))
    assert response.status_code == 400
